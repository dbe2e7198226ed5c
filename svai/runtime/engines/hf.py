"""The ``transformers`` engine: a Hugging Face folder served in process by torch, CPU or GPU.

Cold start is engineered rather than left to ``from_pretrained`` (which on a 1.1B bf16 model
spends ~9 s where the parts take ~5 s, see ``QUALITY.md``). ``load`` runs these in parallel and
logs each one's time (``metrics()``):

* a reader thread pulls the safetensors files into the page cache while ``torch`` imports
  (on a cold cache the disk read and the import overlap instead of adding up);
* a builder thread imports ``transformers``, reads the config and tokenizer and builds the
  model's skeleton straight on the device with weight initialisation switched off;
* meanwhile the main thread creates the CUDA context and reads the safetensors files straight
  onto the device (``safetensors.torch.load_file(device=...)``, no CPU copy of the weights);
* the weights are then *assigned* to the skeleton (no copy), tied weights re-tied, and a
  folder whose names do not line up falls back to ``from_pretrained``.

``warmup`` runs one prefill and one decode step before the server reports ready.

Generation is svai's own loop over the model's KV cache (``DynamicCache``), one forward pass
per token, so each token reaches the caller as soon as it is decoded: text is detokenised
incrementally (TGI's prefix/read offsets, holding back a partial UTF-8 character), cut at stop
strings (:class:`~svai.runtime.engines.base.StopWatcher`), ended by the model's end-of-sequence
tokens, ``max_tokens`` or the context length, and cancelled between two steps.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from svai.runtime.core.config import EngineConfig, ModelConfig
from svai.runtime.core.errors import ConfigError
from svai.runtime.engines.base import (
    Piece,
    SamplingParams,
    StopWatcher,
    TokenizerPrompts,
)

__all__ = ["DEVICE_ENV", "TransformersEngine"]

_READ_CHUNK = 16 << 20

DEVICE_ENV = "SVAI_ENGINE_DEVICE"
"""Overrides ``engine.device`` (``cpu``: serve a GPU package on a machine without a GPU)."""


def _prefetch(files: Sequence[Path]) -> None:
    """Read ``files`` once so their pages are cached when safetensors maps them."""
    for f in files:
        try:
            with f.open("rb", buffering=0) as fh:
                while fh.read(_READ_CHUNK):
                    pass
        except OSError:  # the real read reports it
            return


class TransformersEngine(TokenizerPrompts):
    """Serve a ``save_pretrained`` folder with torch (see the module docstring).

    Args:
        model: the ``model`` section (``path`` is the folder, ``task`` what it serves).
        engine: the ``engine`` section (device, dtype, context length).
        folder: the folder, resolved against the artifact directory.
        log: where component timings go (``Telemetry.event``).
    """

    name = "transformers"

    def __init__(
        self,
        model: ModelConfig,
        engine: EngineConfig,
        folder: Path,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.task = model.task
        self.settings = engine
        self.folder = folder
        self.max_model_len = engine.max_model_len or 0
        self.timings: dict[str, float] = {}
        self._log = log
        self.model: Any = None
        self.device = "cpu"
        self._torch: Any = None
        self._eos: frozenset[int] = frozenset()
        self._cache_arg = "past_key_values"
        self._last_only: dict[str, int] = {}

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load tokenizer and weights onto the device, overlapping the parts (see above)."""
        if not (self.folder / "config.json").is_file():
            raise ConfigError(f"model.path: {self.folder} is not a save_pretrained folder")
        t0 = time.perf_counter()
        files = sorted(self.folder.glob("*.safetensors"))
        reader = threading.Thread(target=_prefetch, args=(files,), daemon=True)
        reader.start()
        import torch

        self._torch = torch
        self.timings["import_torch_s"] = time.perf_counter() - t0
        self.device = self._device(torch)
        built: dict[str, Any] = {}
        builder = threading.Thread(target=self._build, args=(built,), daemon=True)
        builder.start()
        t1 = time.perf_counter()
        if self.device == "cuda":
            torch.empty(1, device="cuda")  # creates the CUDA context
        self.timings["device_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        state = self._read_weights(files)
        self.timings["weights_s"] = time.perf_counter() - t2
        builder.join()
        reader.join()
        if "error" in built:
            raise built["error"]
        t3 = time.perf_counter()
        self.model = self._assign(built["model"], state, built["dtype"])
        self.tokenizer = built["tokenizer"]
        self.timings["assign_s"] = time.perf_counter() - t3
        config = self.model.config
        if not self.max_model_len:
            self.max_model_len = int(getattr(config, "max_position_embeddings", 0) or 2048)
        self._eos = frozenset(self._eos_ids(config))
        # transformers renamed ``past_key_values`` to ``cache`` (5.2x); speak what is installed.
        import inspect

        params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.timings["load_s"] = time.perf_counter() - t0
        if self._log is not None:
            gpu = self._gpu(torch) if self.device == "cuda" else {}
            self._log(
                "engine loaded", engine=self.name, device=self.device, **gpu, **self._rounded()
            )

    @staticmethod
    def _gpu(torch: Any) -> dict[str, Any]:
        """The GPU the weights went to, as torch names it (``svai bench`` records the hardware)."""
        return {
            "gpu": torch.cuda.get_device_name(0),
            "gpu_memory_bytes": int(torch.cuda.get_device_properties(0).total_memory),
            "gpu_count": 1,  # this engine puts the whole model on one device
        }

    def _device(self, torch: Any) -> str:
        # A GPU package run on a machine without one (a smoke test on a laptop or in CI) must
        # say so explicitly: SVAI_ENGINE_DEVICE=cpu overrides the build's choice, and is logged.
        wanted = os.environ.get(DEVICE_ENV) or self.settings.device
        if wanted not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"{DEVICE_ENV}: {wanted!r} is not one of auto, cpu, cuda")
        if wanted == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "engine.device: cuda, but torch sees no GPU "
                f"(to run this package on CPU, slowly, set {DEVICE_ENV}=cpu)"
            )
        if wanted == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return wanted

    def _dtype(self, torch: Any, config: Any) -> Any:
        name = self.settings.dtype
        if name == "auto":
            if self.device == "cpu":
                return torch.float32  # bf16 matmuls on most CPUs are slower than fp32
            stored = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
            name = str(stored).removeprefix("torch.") if stored else "bfloat16"
            if name not in ("bfloat16", "float16"):
                name = "bfloat16"
        return getattr(torch, name)

    def _build(self, out: dict[str, Any]) -> None:
        """Import transformers; build the skeleton on the device, uninitialised; the tokenizer."""
        try:
            t = time.perf_counter()
            import transformers

            try:
                from transformers.initialization import no_init_weights
            except ImportError:  # transformers before 5.x kept it in modeling_utils
                from transformers.modeling_utils import no_init_weights  # type: ignore[no-redef,attr-defined]

            self.timings["import_transformers_s"] = time.perf_counter() - t
            t = time.perf_counter()
            config = transformers.AutoConfig.from_pretrained(self.folder)
            dtype = self._dtype(self._torch, config)
            with self._torch.device(self.device), no_init_weights():
                model = self._auto_class(transformers).from_config(config, dtype=dtype)
            out["model"], out["dtype"] = model, dtype
            self.timings["build_s"] = time.perf_counter() - t
            t = time.perf_counter()
            out["tokenizer"] = transformers.AutoTokenizer.from_pretrained(self.folder)
            self.timings["tokenizer_s"] = time.perf_counter() - t
        except Exception as exc:  # reported by load() on the main thread
            out["error"] = exc

    def _auto_class(self, transformers: Any) -> Any:
        if self.task == "text-generation":
            return transformers.AutoModelForCausalLM
        if self.task == "text-classification":
            return transformers.AutoModelForSequenceClassification
        return transformers.AutoModel

    def _read_weights(self, files: Sequence[Path]) -> dict[str, Any]:
        from safetensors.torch import load_file

        state: dict[str, Any] = {}
        for f in files:
            state.update(load_file(f, device=self.device))
        return state

    def _assign(self, model: Any, state: dict[str, Any], dtype: Any) -> Any:
        """Give the skeleton the loaded tensors (no copy); else fall back to from_pretrained."""
        expected = model.state_dict()
        names_match = bool(state) and set(state) <= set(expected)
        tied = {k for k in expected if k not in state}
        if names_match and all(self._is_tied(model, k) for k in tied):
            for k, v in state.items():
                if v.dtype != dtype and v.is_floating_point():
                    state[k] = v.to(dtype)
            model.load_state_dict(state, strict=False, assign=True)
            model.tie_weights()
            return model.eval()
        if self._log is not None:
            self._log("engine: weight names differ from the model; using from_pretrained")
        import transformers

        del state
        return (
            self._auto_class(transformers)
            .from_pretrained(self.folder, dtype=dtype, device_map=self.device)
            .eval()
        )

    @staticmethod
    def _is_tied(model: Any, key: str) -> bool:
        keys = getattr(model, "_tied_weights_keys", None) or {}
        return key in keys and bool(getattr(model.config, "tie_word_embeddings", False))

    def _eos_ids(self, config: Any) -> list[int]:
        ids: list[int] = []
        gen = getattr(self.model, "generation_config", None)
        for source in (getattr(gen, "eos_token_id", None), config.eos_token_id):
            if isinstance(source, int):
                ids.append(source)
            elif isinstance(source, list | tuple):
                ids.extend(int(i) for i in source)
        if self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        return ids

    def warmup(self) -> None:
        """One prefill and one decode step (kernels, allocator, caches) before readiness."""
        t = time.perf_counter()
        if self.task == "text-generation":
            ids = self.encode("Hello, world.", special=True)
            params = SamplingParams(max_tokens=2, temperature=0.0)
            for _ in self.stream(ids, params, threading.Event()):
                pass
        elif self.task == "text-classification":
            self.classify(["Hello, world."])
        else:
            self.embed(["Hello, world."])
        self.timings["warmup_s"] = time.perf_counter() - t
        if self._log is not None:
            self._log("engine warm", warmup_s=round(self.timings["warmup_s"], 4))

    def _rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.timings.items()}

    # -- text generation -------------------------------------------------------------------

    def stream(
        self, prompt_ids: list[int], params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Piece]:
        """Generate token by token over the KV cache (see the module docstring)."""
        torch = self._torch
        from transformers import DynamicCache

        device = self.device
        generator = torch.Generator(device=device)
        if params.seed is not None:
            generator.manual_seed(params.seed)
        else:
            generator.seed()
        room = self.max_model_len - len(prompt_ids)
        budget = min(params.max_tokens, room)
        watcher = StopWatcher(params.stop)
        produced: list[int] = []
        prefix, read = 0, 0
        cache = DynamicCache()
        with torch.inference_mode():
            inputs = torch.tensor([prompt_ids], device=device)
            while True:
                if cancel.is_set():
                    yield Piece(watcher.flush(), "cancelled", len(produced))
                    return
                if len(produced) >= budget:
                    yield Piece(watcher.flush(), "length", len(produced))
                    return
                step = {self._cache_arg: cache, **self._last_only}
                out = self.model(input_ids=inputs, use_cache=True, **step)
                token = self._sample(out.logits[0, -1], params, generator)
                if token in self._eos:
                    yield Piece(watcher.flush(), "stop", len(produced))
                    return
                produced.append(token)
                inputs = torch.tensor([[token]], device=device)
                # TGI's incremental detokenisation: decode a short window, emit only the
                # characters it added, wait while it ends inside a multi-byte character.
                before = self.tokenizer.decode(produced[prefix:read], skip_special_tokens=True)
                after = self.tokenizer.decode(produced[prefix:], skip_special_tokens=True)
                if len(after) <= len(before) or after.endswith("\ufffd"):
                    continue
                prefix, read = read, len(produced)
                text, stopped = watcher.feed(after[len(before) :])
                if stopped:
                    yield Piece(text, "stop", len(produced))
                    return
                yield Piece(text, None, len(produced))

    def _sample(self, logits: Any, params: SamplingParams, generator: Any) -> int:
        torch = self._torch
        if params.temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / params.temperature, dim=-1)
        if params.top_p < 1.0:
            ordered, order = torch.sort(probs, descending=True)
            outside = torch.cumsum(ordered, dim=-1) - ordered > params.top_p
            ordered[outside] = 0.0
            probs = torch.zeros_like(probs).scatter_(0, order, ordered)
        return int(torch.multinomial(probs, 1, generator=generator))

    # -- encoders ----------------------------------------------------------------------------

    def _encode_batch(self, texts: Sequence[str]) -> tuple[Any, Any]:
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_model_len,
            return_tensors="pt",
        ).to(self.device)
        with self._torch.inference_mode():
            return self.model(**enc), enc["attention_mask"]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised last hidden states."""
        torch = self._torch
        out, mask = self._encode_batch(texts)
        hidden = out.last_hidden_state.float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return [[round(float(x), 6) for x in row] for row in pooled.cpu()]

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Softmax (or per-class sigmoid for multi-label models) over the labels."""
        torch = self._torch
        out, _ = self._encode_batch(texts)
        config = self.model.config
        logits = out.logits.float()
        multi = getattr(config, "problem_type", None) == "multi_label_classification"
        probs = torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)
        labels = [config.id2label[i] for i in range(probs.shape[-1])]
        answers = []
        for row in probs.cpu().tolist():
            best = max(range(len(row)), key=row.__getitem__)
            scores = {lab: round(p, 6) for lab, p in zip(labels, row, strict=True)}
            answers.append({"label": labels[best], "score": round(row[best], 6), "scores": scores})
        return answers

    # -- state ---------------------------------------------------------------------------------

    def health(self) -> bool:
        """Loaded means healthy: the model lives in this process."""
        return self.model is not None

    def metrics(self) -> dict[str, float]:
        """Load timings by component, in seconds."""
        return dict(self.timings)

    def close(self) -> None:
        """Drop the model (frees the GPU memory when nothing else holds it)."""
        self.model = None
