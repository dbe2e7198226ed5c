"""The model of a GPU package: a Hugging Face folder served as it is by a GPU engine.

No ONNX export: the engine (vLLM or transformers, :mod:`svai.spec.engines`) loads the
``save_pretrained`` folder itself -- config, tokenizer and safetensors weights. The folder is
pinned by its manifest digest (:func:`svai.build.fetch.manifest_digest`); it ships in the package
under ``model/``, or, above the offering's threshold, is fetched by the runtime at start
(:mod:`svai.build.placement`).
"""

from __future__ import annotations

from pathlib import Path

from svai.build.fetch import fetch_artifact, manifest_digest
from svai.build.gpu import MODEL_DIR
from svai.build.model import PreparedModel
from svai.errors import UsageError
from svai.spec.engines import Engine
from svai.spec.paths import project_path
from svai.spec.resolve import ResolvedSpec

__all__ = ["prepare_engine_folder"]


def prepare_engine_folder(spec: ResolvedSpec, base_dir: Path, engine: Engine) -> PreparedModel:
    """Check the spec's model is a Hugging Face folder and list its files for the package.

    Raises:
        UsageError: the artifact is not a folder with a ``config.json``.
    """
    model = spec.model
    if model.source.remote:
        folder = fetch_artifact(model.source, model.sha256).path  # verified, from the cache
    else:
        folder = project_path(base_dir, model.artifact, "model.artifact")
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise UsageError(
            f"model.artifact: the {engine.name} GPU engine loads a Hugging Face save_pretrained "
            f"folder (config.json, tokenizer, safetensors weights); {model.artifact} is not one "
            "(name the folder, ending in /, or an hf://org/name@<commit> repository)"
        )
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:  # every file the engine will read stays inside the project
        if not model.source.remote:
            relative = path.relative_to(base_dir.resolve()).as_posix()
            project_path(base_dir, relative, "model.artifact")
    weights = {f"{MODEL_DIR}/{p.relative_to(folder).as_posix()}": p for p in files}
    size = sum(p.stat().st_size for p in files)
    info = {
        "source": model.artifact,
        "framework": model.framework,
        "engine": engine.name,
        "conversion": None,
        "quantization": {"requested": model.quantize, "chosen": "none"},
        "sha256": manifest_digest(folder),
        "bytes": size,
        "packaged": True,
        "task": engine.task,
    }
    notes = (f"GPU engine {engine.name} serves {model.artifact} as it is ({size:,} bytes)",)
    return PreparedModel(None, info, (), notes, weights=weights)
