"""Engines: what runs a ``transformers`` folder (``model.framework: transformers``).

Pipeline position: shipped in GPU and LLM artifacts beside :mod:`svai.runtime.core`; the server
picks the engine named by the ``engine`` section of ``svai_runtime.json``. This is the only
package of the runtime that imports torch or transformers, and only inside the engines'
``load``: importing this package costs nothing, so ONNX artifacts start as fast as before.

* ``transformers`` (:mod:`~svai.runtime.engines.hf`): in process, CPU or GPU; generation,
  classification, embeddings.
* ``vllm`` (:mod:`~svai.runtime.engines.vllm`): ``vllm serve`` as a child process behind
  svai's front, text generation on GPUs.

Public surface: :func:`open_engine`, :func:`engine_loader`, the :class:`Engine` protocol and
the types it speaks (:class:`SamplingParams`, :class:`Piece`), :class:`EngineModel`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from svai.runtime.core.config import EngineConfig, ModelConfig, RuntimeConfig
from svai.runtime.engines.base import Engine, EngineModel, Piece, SamplingParams

__all__ = ["Engine", "EngineModel", "Piece", "SamplingParams", "engine_loader", "open_engine"]


def open_engine(cfg: RuntimeConfig, log: Callable[..., None] | None = None) -> Engine:
    """The engine the config names, not loaded yet.

    Args:
        cfg: the runtime config (``model.framework`` is ``transformers``).
        log: where the engine reports its load timings (``Telemetry.event``).
    """
    folder = cfg.resolve(cfg.model.path)
    if cfg.model.path == cfg.fallback.model:
        # The fallback (a smaller folder) runs in process: a second vLLM server would claim the
        # GPU memory fraction again. Its context is its own config's.
        fallback = replace(cfg.engine, name="transformers", max_model_len=None)
        return _transformers(cfg.model, fallback, folder, log)
    if cfg.engine.name == "vllm":
        from svai.runtime.engines.vllm import VllmEngine

        return VllmEngine(cfg.model, cfg.engine, folder, log)
    return _transformers(cfg.model, cfg.engine, folder, log)


def _transformers(
    model: ModelConfig, engine: EngineConfig, folder: Path, log: Callable[..., None] | None
) -> Engine:
    from svai.runtime.engines.hf import TransformersEngine

    return TransformersEngine(model, engine, folder, log)


def engine_loader(log: Callable[..., None] | None = None) -> Callable[[RuntimeConfig], Any]:
    """A model loader for ``Service``: opens and loads the engine, wrapped as a core ``Model``."""

    def load(cfg: RuntimeConfig) -> EngineModel:
        engine = open_engine(cfg, log)
        engine.load()
        return EngineModel(engine, cfg.model.task, cfg.generation.default_max_tokens)

    return load
