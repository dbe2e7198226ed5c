"""The vLLM engine's contract, against a loopback server replaying vLLM's recorded shapes.

``vllm_replay.py`` is started as the engine's child exactly as ``vllm serve`` would be; a real
vLLM run is behind the ``gpu`` marker (``make test-gpu``) and reported as skipped without it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

from test_openai_front import CHAT, chat, serving
from tiny_llama import save_tiny_llama

from svai.runtime.core import parse_config
from svai.runtime.core.errors import ModelError, RequestError
from svai.runtime.engines import SamplingParams, open_engine

REPLAY = Path(__file__).with_name("vllm_replay.py")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    launcher = tmp_path / "vllm"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{REPLAY}" "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    files = {"log": tmp_path / "requests.jsonl", "aborts": tmp_path / "aborts.txt"}
    monkeypatch.setenv("SVAI_VLLM_BIN", str(launcher))
    monkeypatch.setenv("REPLAY_LOG", str(files["log"]))
    monkeypatch.setenv("REPLAY_ABORTS", str(files["aborts"]))
    return files


def _config(folder: Path, **engine: Any) -> Any:
    return parse_config(
        {
            "model": {
                "path": str(folder),
                "version": "v-vllm",
                "framework": "transformers",
                "task": "text-generation",
            },
            "engine": {"name": "vllm", **engine},
        }
    )


@pytest.fixture
def engine(folder: Path, replay: dict[str, Path]) -> Iterator[Any]:
    e = open_engine(_config(folder, dtype="bfloat16", vllm_args=["--enable-prefix-caching"]))
    e.load()
    yield e
    e.close()


def _logged(replay: dict[str, Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in replay["log"].read_text().splitlines()]


def test_the_child_gets_vllm_serve_arguments(engine: Any, replay: dict[str, Path]) -> None:
    argv = _logged(replay)[0]["argv"]
    assert argv[:2] == ["serve", str(engine.folder)]
    assert argv[argv.index("--dtype") + 1] == "bfloat16"
    assert argv[argv.index("--served-model-name") + 1] == "svai"
    assert argv[-1] == "--enable-prefix-caching"
    assert engine.max_model_len == 256  # read from the child's /v1/models


def test_recorded_stream_becomes_pieces(engine: Any, replay: dict[str, Path]) -> None:
    params = SamplingParams(max_tokens=5, temperature=0.0, seed=3, stop=("\n\n",))
    pieces = list(engine.stream([1, 2, 3], params, threading.Event()))
    assert [p.text for p in pieces[:-1]] == [" The", " sky", " is", " blue", ".\n"]
    assert pieces[-1].finish_reason == "length"
    assert pieces[-1].tokens == 5  # from the usage chunk
    sent = _logged(replay)[-1]
    assert sent["prompt"] == [1, 2, 3]
    assert sent["stream_options"] == {"include_usage": True}
    assert (sent["seed"], sent["stop"], sent["model"]) == (3, ["\n\n"], "svai")


@pytest.mark.parametrize("max_tokens", [13, 14])
def test_vllm_400_shapes_become_request_errors(engine: Any, max_tokens: int) -> None:
    with pytest.raises(RequestError) as err:
        list(engine.stream([1], SamplingParams(max_tokens=max_tokens), threading.Event()))
    assert err.value.status == 400
    assert "max" in err.value.message


def test_an_error_event_mid_stream_is_a_model_error(engine: Any) -> None:
    got = []
    with pytest.raises(ModelError, match="EngineCore"):
        for piece in engine.stream([1], SamplingParams(max_tokens=15), threading.Event()):
            got.append(piece.text)
    assert got == [" The", " sky"]


def test_cancel_closes_the_stream_and_vllm_sees_an_abort(
    engine: Any, replay: dict[str, Path]
) -> None:
    cancel = threading.Event()
    stream = engine.stream([1], SamplingParams(max_tokens=200), cancel)
    assert next(stream).text == " The"
    cancel.set()
    assert next(stream).finish_reason == "cancelled"
    stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        replay["aborts"].exists() and replay["aborts"].read_text()
    ):
        time.sleep(0.02)
    assert replay["aborts"].read_text() == "aborted\n"


def test_a_dead_child_is_unhealthy(engine: Any) -> None:
    assert engine.health()
    engine.close()
    assert not engine.health()


def test_a_child_that_cannot_start_fails_the_load(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = tmp_path / "vllm"
    failing.write_text("#!/bin/sh\necho 'CUDA error: no device' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("SVAI_VLLM_BIN", str(failing))
    with pytest.raises(ModelError, match="no device"):
        open_engine(_config(folder)).load()


def test_svai_front_streams_through_vllm(
    folder: Path, replay: dict[str, Path], tmp_path: Path
) -> None:
    with serving(folder, tmp_path, engine={"name": "vllm"}) as s:
        status, _, events = s.post(CHAT, chat(max_tokens=5, stream=True))
        assert status == 200, events
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert text == " The sky is blue.\n"
        assert events[-1] == "[DONE]"
        status, _, body = s.post(CHAT, chat(max_tokens=14))
        assert status == 400
        assert "max_tokens must be at least 1" in body["error"]["message"]
        status, _, events = s.post(CHAT, chat(max_tokens=15, stream=True))
        assert status == 200  # the head was out before vLLM failed: the stream says so
        assert json.loads(events[-2])["error"]["code"] == "model_error"
        assert events[-1] == "[DONE]"
        line = s.generations(at_least=1)[0]
        assert line["tokens_out"] == 5
        child = s.service.model.engine._child  # type: ignore[union-attr]
    assert child.wait(30) is not None  # the drain ended vllm serve with svai


@pytest.mark.gpu
def test_real_vllm_serves_the_tiny_llama(folder: Path, tmp_path: Path) -> None:
    if shutil.which("vllm") is None:
        pytest.skip("vllm is not installed here (GPU images carry it): not run")
    os.environ.pop("SVAI_VLLM_BIN", None)
    with serving(folder, tmp_path, engine={"name": "vllm", "gpu_memory_utilization": 0.3}) as s:
        status, _, events = s.post(CHAT, chat(max_tokens=8, temperature=0, stream=True))
        assert status == 200
        assert events[-1] == "[DONE]"
