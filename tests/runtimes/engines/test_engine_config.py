"""The ``engine`` and ``generation`` sections of ``svai_runtime.json``, and the stop-string cutter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from svai.runtime.core import parse_config
from svai.runtime.core.errors import ConfigError
from svai.runtime.engines.base import StopWatcher

MODEL = {"path": "llm", "version": "v1", "framework": "transformers", "task": "text-generation"}


def test_defaults_fill_both_sections() -> None:
    cfg = parse_config({"model": MODEL})
    assert (cfg.engine.name, cfg.engine.device, cfg.engine.dtype) == (
        "transformers",
        "auto",
        "auto",
    )
    assert cfg.engine.gpu_memory_utilization == 0.9
    assert cfg.engine.tensor_parallel_size == 1
    assert cfg.engine.vllm_args == ()
    assert (cfg.generation.max_tokens, cfg.generation.default_max_tokens) == (512, 128)
    assert cfg.generation.max_prompt_tokens is None
    assert cfg.generation.prompt_templates == ()


def test_a_full_engine_section_reads() -> None:
    cfg = parse_config(
        {
            "model": MODEL,
            "engine": {
                "name": "vllm",
                "device": "cuda",
                "dtype": "bfloat16",
                "max_model_len": 8192,
                "gpu_memory_utilization": 0.85,
                "tensor_parallel_size": 2,
                "vllm_args": ["--enable-prefix-caching"],
            },
            "generation": {"max_prompt_tokens": 4000, "prompt_templates": ["wrap.txt"]},
        }
    )
    assert cfg.engine.max_model_len == 8192
    assert cfg.engine.vllm_args == ("--enable-prefix-caching",)
    assert cfg.generation.prompt_templates == ("wrap.txt",)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"engine": {"name": "tgi"}}, "engine.name"),
        ({"engine": {"device": "tpu"}}, "engine.device"),
        ({"engine": {"dtype": "int4"}}, "engine.dtype"),
        ({"engine": {"gpu_memory_utilization": 1.5}}, "gpu_memory_utilization"),
        ({"engine": {"tensor_parallel_size": 0}}, "tensor_parallel_size"),
        ({"engine": {"max_model_len": 0}}, "max_model_len"),
        ({"engine": {"vllm_arg": []}}, "vllm_arg"),
        ({"generation": {"max_tokens": 0}}, "generation.max_tokens"),
        ({"generation": {"default_max_tokens": 600}}, "default_max_tokens"),
        ({"model": {**MODEL, "task": "image-classification"}}, "framework transformers serves"),
        ({"model": {**MODEL, "framework": "onnx"}}, "needs framework transformers"),
        (
            {"model": {**MODEL, "task": "feature-extraction"}, "engine": {"name": "vllm"}},
            "vllm serves task text-generation only",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"model": MODEL, **patch})


def test_text_classification_folders_need_no_labels_or_tokenizer_file() -> None:
    cfg = parse_config({"model": {**MODEL, "task": "text-classification"}})
    assert cfg.model.labels == ()


@given(
    st.lists(st.text(alphabet="ab\n", min_size=0, max_size=4), min_size=1, max_size=12),
    st.lists(st.text(alphabet="ab\n", min_size=1, max_size=3), min_size=0, max_size=3),
)
@example(["ab", "a"], ["b", "aba"])  # "b" ends generation before "aba" could ever complete
def test_stop_watcher_sends_exactly_the_text_before_the_first_stop(
    pieces: list[str], stops: list[str]
) -> None:
    watcher = StopWatcher(tuple(stops))
    sent, stopped = "", False
    for piece in pieces:
        text, stopped = watcher.feed(piece)
        sent += text
        if stopped:
            break
    if not stopped:
        sent += watcher.flush()
    # The oracle, without holding anything back: generation ends at the first piece after which
    # the text holds a stop string (an engine checks after each token), cut at the earliest one.
    # A stop that would only complete in later pieces was never generated.
    whole = ""
    for piece in pieces:
        whole += piece
        cuts = [i for i in (whole.find(s) for s in stops) if i >= 0]
        if cuts:
            whole = whole[: min(cuts)]
            break
    assert sent == whole
