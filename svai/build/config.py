"""``svai_runtime.json``: the spec mapped onto the runtime's config, and the user files it names.

Spec values reach the shipped code only as this data, never pasted into source.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from svai.build.artifact import MODEL_NAME, safe_source
from svai.build.fallback import fallback_files, fallback_path
from svai.build.gpu import MODEL_DIR, engine_section, generation_section
from svai.compiler.catalog import load_catalog
from svai.compiler.drift import runtime_section
from svai.compiler.recommendation import TargetRecommendation
from svai.compiler.request_limits import peak_rps, rate_limit, tenant_rate_limit
from svai.compiler.streaming import streams
from svai.errors import UsageError
from svai.spec.engines import Engine, gpu_engine
from svai.spec.names import metrics_namespace
from svai.spec.paths import included_files
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "SERVER_PORT",
    "hook_files",
    "normal_path",
    "runtime_config",
]


SERVER_PORT = 8080


def runtime_config(
    spec: ResolvedSpec, base_dir: Path, version: str, rec: TargetRecommendation | None
) -> dict[str, Any]:
    """Map the resolved spec (and a target's sizing) onto ``svai_runtime.json``.

    Raises:
        UsageError: ``api.input_schema`` is missing, outside the project or not JSON.
    """
    model, api, rel = spec.model, spec.api, spec.reliability
    schema = None
    if api.input_schema is not None:
        path = safe_source(base_dir, api.input_schema, "api.input_schema", copied=False)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"api.input_schema: {api.input_schema} is not JSON ({exc})") from None
    encoder = model.task == "embedding"
    concurrency = rec.choice.concurrency_per_instance if rec is not None else 0
    # The same figures the plan states (svai.compiler.limits), enforced in each instance.
    rps, burst = rate_limit(spec, peak_rps(rec)) if rec is not None else (api.rate_limit_rps, 0)
    tenant_rps, tenant_burst = tenant_rate_limit(spec) or (None, 0)
    fallback_model = fallback_path(spec)
    observability = {"namespace": metrics_namespace(spec.name), "service": spec.name}
    if spec.observability.tracing != "none":  # left out at the default: earlier builds unchanged
        observability["tracing"] = spec.observability.tracing
    config = {
        "schema_version": 1,
        "model": {
            "path": MODEL_NAME,
            "version": version,
            "framework": "onnx",
            "warmup": True,
        },
        "api": {
            "max_payload_bytes": api.max_payload_bytes,
            "content_types": list(api.content_types),
            "input_schema": schema,
            "timeout_s": api.timeout_s,
            "tenant_header": spec.tenancy.header.lower(),
        },
        "concurrency": {"max_concurrency": concurrency},
        "rate_limit": {
            "rps": rps,
            "burst": burst,
            "tenant_rps": tenant_rps,
            "tenant_burst": tenant_burst,
        },
        # Batching pays off where one call costs the same for 1 or 8 inputs: GPUs and encoders.
        "batching": {"enabled": spec.gpu.required or encoder},
        "cache": {
            "ttl_s": spec.cache.ttl_s if spec.cache.enabled else 0.0,
            "max_entries": spec.cache.max_entries,
            # The deployment's shared cache (the catalog's builds row): every instance reads
            # it; its name reaches the runtime in environment variables the backend sets.
            "store": load_catalog().builds.cloud(rec.cloud).shared_cache
            if spec.cache.enabled and rec
            else None,
        },
        "idempotency": {
            "header": rel.idempotency_header.lower(),
            "ttl_s": rel.idempotency_ttl_s,
        },
        "fallback": {
            "rules": model.fallback_rules,
            "model": fallback_model,
            # Every fallback ships in the artifact (svai.build.fallback), so it can answer early.
            "after_s": model.fallback_after_s if model.fallback_rules or fallback_model else None,
        },
        "hooks": {"preprocess": model.preprocess, "postprocess": model.postprocess},
        "observability": observability,
        "server": {"host": "0.0.0.0", "port": SERVER_PORT},
    }
    if spec.observability.drift_enabled:
        config["drift"] = runtime_section(spec, base_dir)
    engine = gpu_engine(spec)
    if isinstance(engine, Engine):
        config.update(_engine_sections(spec, version, rec, engine))
    return config


def _engine_sections(
    spec: ResolvedSpec, version: str, rec: TargetRecommendation | None, engine: Engine
) -> dict[str, Any]:
    """A GPU package's model (the Hugging Face folder), engine and generation settings."""
    model = {
        "path": MODEL_DIR,
        "version": version,
        "framework": "transformers",
        "task": engine.task,
        "warmup": True,
    }
    settings = engine_section(engine, spec, rec)
    sections: dict[str, Any] = {"model": model, "engine": settings}
    if engine.task == "text-generation":
        # ``streaming: false`` where the target's path buffers: ``stream: true`` is then a 400.
        sections["generation"] = {**generation_section(spec, settings), "streaming": streams(rec)}
    return sections


def hook_files(spec: ResolvedSpec, base_dir: Path) -> dict[str, Path]:
    """Every user file the runtime reads, relative path -> checked source."""
    model = spec.model
    files: dict[str, Path] = {}
    entries = [
        ("model.preprocess", model.preprocess),
        ("model.postprocess", model.postprocess),
        ("model.fallback.rules", model.fallback_rules),
    ]
    for what, entry in entries:
        if entry is None:
            continue
        module = entry.split(":", 1)[0]
        relative = _hook_path(base_dir, module)
        files[normal_path(relative)] = safe_source(base_dir, relative, what)
    for template in model.prompt_templates:
        files[normal_path(template)] = safe_source(base_dir, template, "model.prompt_templates")
    files.update(fallback_files(spec, base_dir))  # fetched here when it is remote
    for relative, _ in included_files(base_dir, model.include):
        # Checked again as a copied file: an include may not replace runtime code or svai's files.
        files[relative] = safe_source(base_dir, relative, "model.include")
    return files


def _hook_path(base_dir: Path, module: str) -> str:
    # The runtime's hook loader accepts "file.py" and dotted module names; mirror its lookup.
    if module.endswith(".py"):
        return module
    dotted = "/".join(module.split("."))
    for candidate in (f"{dotted}.py", f"{dotted}/__init__.py"):
        if (base_dir / candidate).is_file() or (base_dir / candidate).is_symlink():
            return candidate
    return f"{dotted}.py"


def normal_path(relative: str) -> str:
    """``relative`` as a POSIX path without ``.`` parts (the path a file has in the package)."""
    return PurePosixPath(*[p for p in PurePosixPath(relative).parts if p != "."]).as_posix()
