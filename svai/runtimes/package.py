"""Packaging: turn a resolved spec and its recommendation into deployable artifacts (``svai build``).

Per target, under ``<out>/<name>/<model version>/<cloud>-<region>/``:

* ``model.onnx``: the optimised model (an ONNX file copied or int8-quantised behind the accuracy
  check of :mod:`svai.runtimes.optimize`; a trusted scikit-learn/XGBoost/LightGBM pickle converted
  to ONNX so scikit-learn is not imported at serve time). A remote artifact (``s3://``, ``hf://``
  ...) cannot be fetched offline: it is recorded in ``manifest.json`` for the deployment to fetch;
* ``svai_runtime.json``: the spec mapped onto the runtime config. Spec values reach code only as
  this data, never pasted into source;
* the runtime code (``svai/runtimes/core`` and ``server``; ``entry`` for Lambda zips) and the
  user's hook files at their relative paths (paths that climb out of the project are refused);
* ``requirements.txt`` pinned to the versions installed here;
* ``function.zip`` (reproducible: sorted entries, fixed timestamps and permissions) with the
  platform's entry point: the Lambda handler (``svai.runtimes.entry.aws_lambda.handler``; the zip
  is checked against the Lambda size limits, dependencies go in a layer or ``--vendor-deps``),
  ``main.py`` for Cloud Run functions (``--entry-point predict``) or ``function_app.py`` +
  ``host.json`` for Azure Functions (those two install the zip's ``requirements.txt``); or a
  container build context (``Dockerfile`` rendered by jinja2, ``.dockerignore``) for containers
  and managed endpoints;
* ``manifest.json``: version, every file with its sha256 and size, the optimisation result and
  what is referenced remotely.

The same spec builds byte-identical files wherever and however often it is built. Each target is
assembled in a scratch folder beside its final place and renamed into place only when complete.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import jinja2

from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.errors import UsageError
from svai.spec.paths import project_file
from svai.spec.resolve import ResolvedSpec

if TYPE_CHECKING:
    from svai.runtimes.optimize import Quantization

__all__ = [
    "BUILD_DIR_NAME",
    "CONFIG_NAME",
    "MANIFEST_NAME",
    "BuildResult",
    "EvalCase",
    "FileEntry",
    "TargetBuild",
    "build",
    "default_out_dir",
    "read_eval_set",
    "runtime_config",
    "safe_source",
    "target_dir",
    "target_key",
]

BUILD_DIR_NAME = ".svai/build"
CONFIG_NAME = "svai_runtime.json"
MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.onnx"
ZIP_NAME = "function.zip"
MODEL_TARBALL = "model.tar.gz"
REQUIREMENTS_NAME = "requirements.txt"
# AWS Lambda quotas: 50 MB for a zip uploaded directly, 250 MB unzipped (code and layers).
MIB = 1024 * 1024
LAMBDA_ZIP_LIMIT = 50 * MIB
LAMBDA_UNZIPPED_LIMIT = 250 * MIB
BASE_IMAGE = "python:3.11.11-slim-bookworm"
SERVER_PORT = 8080
IMAGE_UID = 10001
# Vendored wheels must match the interpreter that runs the zip: the AWS backend's Lambda runtime
# (python3.12) and the Azure backend's Flex Consumption runtime (3.11); a test keeps them equal.
LAMBDA_PYTHON = "3.12"
AZURE_PYTHON = "3.11"
AZURE_SITE = ".python_packages/lib/site-packages"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_TABULAR = ("sklearn", "xgboost", "lightgbm")
_RESERVED = {
    CONFIG_NAME,
    MANIFEST_NAME,
    MODEL_NAME,
    ZIP_NAME,
    REQUIREMENTS_NAME,
    "Dockerfile",
    ".dockerignore",
    "main.py",
    "function_app.py",
    "host.json",
}
# The shared cache store each backend creates (see svai.runtimes.core.cache.open_store).
_SHARED_CACHE = {"aws": "dynamodb://", "gcp": "firestore://", "azure": "cosmos://"}
# Function zips: the platform's entry-point library, per cloud.
_FUNCTION_DEPS = {
    "aws": "aws-lambda-powertools",
    "gcp": "functions-framework",
    "azure": "azure-functions",
}
_SAMPLE_ROWS = 64
_PACKAGE_INIT = '"""svai runtime package, copied by ``svai build``."""\n'

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a built target."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class TargetBuild:
    """What ``svai build`` wrote for one target."""

    target: str
    package: str
    offering: str
    directory: Path
    files: tuple[FileEntry, ...]
    zip_bytes: int | None
    notes: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        """Bytes of every file in the target folder (the zip included)."""
        return sum(f.bytes for f in self.files) + (self.zip_bytes or 0)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """The artifacts of one build."""

    name: str
    model_version: str
    optimisation: dict[str, Any]
    targets: tuple[TargetBuild, ...]
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One line of the spec's eval set: a request payload and its expected label, if any."""

    payload: Any
    label: Any = None


@dataclass(frozen=True, slots=True)
class _Model:
    """The prepared model shared by every target of one build (``data``: its bytes, if packaged)."""

    data: bytes | None
    info: dict[str, Any]
    remote: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]


def target_key(cloud: str, region: str) -> str:
    """Return the ``<cloud>-<region>`` name of a target, as ``--target`` spells it."""
    return f"{cloud}-{region}"


def default_out_dir(base_dir: Path) -> Path:
    """The default build root beside the spec: ``<spec dir>/.svai/build``."""
    return base_dir / BUILD_DIR_NAME


def target_dir(out_dir: Path, name: str, version: str, key: str) -> Path:
    """Where one target's artifact lives under the build root."""
    return out_dir / name / version / key


def safe_source(base_dir: Path, relative: str, what: str, *, copied: bool = True) -> Path:
    """Return the project file ``relative`` resolved inside ``base_dir``, or refuse it.

    Refused: absolute paths, ``..`` components, a symlink (or a link in a parent) that lands
    outside ``base_dir``, anything that is not a regular file, and — for files ``copied`` into
    the package at their own path — paths that would replace the runtime code or a generated
    file. (The model, the input schema and the eval set are read, not copied as they are.)

    Raises:
        UsageError: naming the field and the reason.
    """
    source = project_file(base_dir, relative, what)  # the one path policy (svai.spec.paths)
    parts = [p for p in PurePosixPath(relative).parts if p != "."]
    if copied and (parts[0] == "svai" or (len(parts) == 1 and parts[0] in _RESERVED)):
        raise UsageError(
            f"{what}: {relative!r} would replace a file svai generates; move it elsewhere "
            "(not under svai/, nor one of " + ", ".join(sorted(_RESERVED)) + ")"
        )
    return source


def read_eval_set(spec: ResolvedSpec, base_dir: Path) -> list[EvalCase]:
    """Read ``rollout.gates.eval_set`` (JSON Lines), or return ``[]`` when the spec has none.

    Each line is an object ``{"input": <request body>, "expected": <answer>}``; ``expected`` is
    optional (latency-only gates need none). This is the format ``docs/spec.md`` documents.

    Raises:
        UsageError: the file is missing or a line is not a JSON object.
    """
    gates = spec.rollout.gates
    if gates is None:
        return []
    path = safe_source(base_dir, gates.eval_set, "rollout.gates.eval_set", copied=False)
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{gates.eval_set}:{number}: not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise UsageError(f"{gates.eval_set}:{number}: expected a JSON object per line")
        if "input" not in record or set(record) - {"input", "expected"}:
            raise UsageError(
                f'{gates.eval_set}:{number}: expected {{"input": <request body>, "expected": '
                f"<answer>}}, got keys {sorted(record)}"
            )
        cases.append(EvalCase(record["input"], record.get("expected")))
    return cases


def build(
    spec: ResolvedSpec,
    base_dir: Path,
    recommendation: Recommendation,
    version: str,
    *,
    out_dir: Path | None = None,
    target: str = "all",
    vendor_deps: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the artifact of every selected target.

    Args:
        spec: the resolved spec.
        base_dir: the folder the spec's relative paths resolve against.
        recommendation: the recommendation (its ``choice.package`` decides zip, image or model).
        version: the model version id.
        out_dir: build root (default ``<base_dir>/.svai/build``).
        target: ``<cloud>-<region>`` of one target, or ``all``.
        vendor_deps: for zip targets, ``pip install`` the requirements for
            ``manylinux2014_x86_64`` into the zip (needs the package index).
        progress: called with one line per step.

    Raises:
        UsageError: an unknown target, a path that climbs out of the project, an untrusted or
            unconvertible model, a zip over the Lambda limits.
    """
    say = progress or (lambda _line: None)
    root = (out_dir or default_out_dir(base_dir)).resolve()
    chosen = _select(spec, recommendation, target)
    with tempfile.TemporaryDirectory(prefix="svai-model-") as scratch:
        say(f"model: preparing {spec.model.artifact} ({spec.model.framework})")
        model = _prepare_model(spec, base_dir, Path(scratch))
        for note in model.notes:
            say(f"model: {note}")
        shared = _shared_files(model, _hook_files(spec, base_dir))
        built = []
        for rec in chosen:
            key = target_key(rec.cloud, rec.region)
            say(f"{key}: building {rec.choice.package} for {rec.choice.name}")
            final = target_dir(root, spec.name, version, key)
            built.append(
                _build_target(
                    spec,
                    rec,
                    version,
                    model,
                    runtime_config(spec, base_dir, version, rec),
                    shared,
                    final,
                    vendor_deps=vendor_deps,
                )
            )
            say(f"{key}: wrote {final}")
    return BuildResult(spec.name, version, model.info, tuple(built), model.notes)


def _select(
    spec: ResolvedSpec, recommendation: Recommendation, target: str
) -> list[TargetRecommendation]:
    recs = list(recommendation.targets)
    if target == "all":
        return recs
    for rec in recs:
        if target_key(rec.cloud, rec.region) == target:
            return [rec]
    known = ", ".join(target_key(t.cloud, t.region) for t in spec.targets)
    raise UsageError(f"--target {target!r}: no such target in the spec (known: {known}, all)")


# ---- the model --------------------------------------------------------------------------------


def _prepare_model(spec: ResolvedSpec, base_dir: Path, scratch: Path) -> _Model:
    model = spec.model
    if model.artifact_scheme != "local":
        reference = {"artifact": model.artifact, "revision": model.revision, "path": MODEL_NAME}
        note = (
            f"{model.artifact} is remote and cannot be fetched offline: it is NOT in the package; "
            f"manifest.json records the reference; the deployment must place it at {MODEL_NAME} "
            "before the runtime starts (the runtime does not download models)"
        )
        remote = {"source": model.artifact, "framework": model.framework, "packaged": False}
        return _Model(None, remote, (reference,), (note,))
    source = safe_source(base_dir, model.artifact, "model.artifact", copied=False)
    cases = read_eval_set(spec, base_dir)
    rows, labels = _eval_rows(cases)
    notes: list[str] = []
    info: dict[str, Any] = {"source": model.artifact, "framework": model.framework}
    if source.suffix.lower() == ".onnx":
        _check_onnx(source, model.artifact)
        fp32 = source  # read only: the quantiser writes its int8 variant into scratch
        info["conversion"] = None
    elif model.framework in _TABULAR and source.suffix.lower() in _PICKLE_SUFFIXES:
        fp32, conversion = _convert_pickle(spec, source, scratch, rows)
        info["conversion"] = conversion
        notes.append(
            f"converted {conversion['estimator']} ({model.framework}) to ONNX, max difference "
            f"{conversion['max_abs_diff']:.2g} on {conversion['check_rows']} rows; scikit-learn "
            "is not needed at serve time"
        )
    else:
        raise UsageError(
            f"model.artifact: svai build packages ONNX files and trusted scikit-learn / XGBoost / "
            f"LightGBM pickles; export this {model.framework} model ({model.artifact}) to ONNX "
            "first (sentence-transformers: svai.runtimes.optimize.export_sentence_encoder)"
        )
    shipped, quant = _quantize(spec, fp32, scratch, rows, labels)
    info["quantization"] = quant
    if quant.get("message"):
        notes.append(str(quant["message"]))
    data = shipped.read_bytes()
    info["sha256"] = hashlib.sha256(data).hexdigest()
    info["bytes"] = len(data)
    info["packaged"] = True
    return _Model(data, info, (), tuple(notes))


def _check_onnx(path: Path, name: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # the checker raises several unrelated types
        raise UsageError(f"model.artifact: {name} is not a valid ONNX model: {exc}") from None


def _eval_rows(cases: Sequence[EvalCase]) -> tuple[list[list[float]], list[Any]]:
    # Only payloads that carry model-ready rows can feed the converter and the accuracy check;
    # payloads meant for a pre-processing hook are not rows.
    rows: list[list[float]] = []
    labels: list[Any] = []
    for case in cases:
        inputs = case.payload.get("inputs") if isinstance(case.payload, dict) else None
        if not isinstance(inputs, list):
            continue
        batch = inputs if inputs and isinstance(inputs[0], list) else [inputs]
        if not all(isinstance(v, int | float) for row in batch for v in row):
            continue
        rows.extend([float(v) for v in row] for row in batch)
        labels.extend([case.label] * len(batch))
    return rows, labels


def _convert_pickle(
    spec: ResolvedSpec, source: Path, scratch: Path, rows: list[list[float]]
) -> tuple[Path, dict[str, Any]]:
    expected = spec.model.trusted_sha256
    # Hashed and loaded from the same bytes: the file cannot change between check and load.
    blob = source.read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    if expected is None or actual != expected:
        raise UsageError(
            f"model.artifact: {spec.model.artifact} is a pickle; it loads only when "
            f"`model.trust: {{pickle: true, sha256: ...}}` names its sha256 (file has {actual}, "
            f"spec trusts {expected or 'nothing'})"
        )
    import numpy as np

    from svai.runtimes.optimize import OptimizeError, convert_tabular

    # Safe to unpickle only because the sha256 pinned by the spec matched above.
    if source.suffix.lower() == ".joblib":
        import joblib  # type: ignore[import-untyped]

        estimator = joblib.load(io.BytesIO(blob))
    else:
        estimator = pickle.loads(blob)
    if rows:
        sample = np.asarray(rows, dtype=np.float32)
    else:
        n_features = getattr(estimator, "n_features_in_", None)
        if not isinstance(n_features, int):
            raise UsageError(
                "model: cannot tell how many features the model takes; add an eval set "
                "(rollout.gates.eval_set) whose lines carry model inputs"
            )
        # Seeded: the conversion check (and so the build) must be the same every time.
        sample = np.random.default_rng(0).normal(size=(_SAMPLE_ROWS, n_features)).astype(np.float32)
    path = scratch / "converted.onnx"
    try:
        result = convert_tabular(estimator, sample, path)
    except OptimizeError as exc:
        raise UsageError(f"model: cannot convert {spec.model.artifact} to ONNX: {exc}") from None
    return result.path, {
        "estimator": result.estimator,
        "task": result.task,
        "n_features": result.n_features,
        "max_abs_diff": result.max_abs_diff,
        "check_rows": int(sample.shape[0]),
    }


def _quantize(
    spec: ResolvedSpec, fp32: Path, scratch: Path, rows: list[list[float]], labels: list[Any]
) -> tuple[Path, dict[str, Any]]:
    wanted = spec.model.quantize
    if wanted == "none":
        return fp32, {"requested": "none", "chosen": "fp32"}
    if wanted != "int8":
        return fp32, {
            "requested": wanted,
            "chosen": "fp32",
            "message": f"kept fp32: {wanted} quantisation is not supported by svai build yet",
        }
    if not rows:
        return fp32, {
            "requested": "int8",
            "chosen": "fp32",
            "message": "kept fp32: int8 needs an accuracy check, and the spec has no eval set "
            "(rollout.gates.eval_set) with model inputs to check it on",
        }
    import numpy as np
    import onnxruntime as ort

    from svai.runtimes.optimize import Accuracy, ArgmaxAgreement, quantize_model

    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: np.asarray(rows, dtype=np.float32)}
    metric: Any
    if all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        metric = Accuracy(feeds, np.asarray(labels, dtype=np.int64))
    else:
        metric = ArgmaxAgreement(feeds)
    # A reproducible build decides on size and quality only: a timed speed ratio on a shared
    # machine would make the same inputs ship different bytes (`bench/bench_optimize.py`
    # measures the speed). The message therefore carries no timings either.
    result = quantize_model(
        fp32,
        scratch / "int8.onnx",
        metric=metric,
        feeds=feeds,
        tolerance=spec.model.max_accuracy_drop,
        min_speed_ratio=math.inf,
    )
    return result.path, {
        "requested": "int8",
        "chosen": result.chosen,
        "verdict": result.verdict,
        "metric": result.metric,
        "fp32_score": result.fp32_score,
        "int8_score": result.int8_score,
        "fp32_bytes": result.fp32_bytes,
        "int8_bytes": result.int8_bytes,
        "message": _quantization_message(result),
    }


def _quantization_message(result: Quantization) -> str:
    """The verdict with the figures that do not vary from run to run (no timings)."""
    if result.verdict == "nothing_to_quantize":
        return str(result.message)
    scores = (
        f"{result.metric} {result.fp32_score:.4f} -> {result.int8_score:.4f} "
        f"(drop {result.quality_drop:.3g}, tolerance {result.tolerance:.3g})"
    )
    size = (
        f"{result.fp32_bytes:,} -> {result.int8_bytes:,} bytes ({result.size_ratio:.2f}x smaller)"
    )
    if result.verdict == "accuracy_drop":
        return f"kept fp32: the int8 quality drop exceeds the tolerance; {scores}; {size}"
    if result.verdict == "no_gain":
        return f"kept fp32: int8 gains nothing worth shipping here; {size}; {scores}"
    return f"shipping int8: {size}; {scores}"


# ---- the runtime config ----------------------------------------------------------------------


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
    fallback_model = _local_fallback(spec)
    return {
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
        # Batching pays off where one call costs the same for 1 or 8 inputs: GPUs and encoders.
        "batching": {"enabled": spec.gpu.required or encoder},
        "cache": {
            "ttl_s": spec.cache.ttl_s if spec.cache.enabled else 0.0,
            "max_entries": spec.cache.max_entries,
            # The deployment's shared cache (DynamoDB, Firestore, Cosmos DB): every instance
            # reads it; its name reaches the runtime in environment variables the backend sets.
            "store": _SHARED_CACHE.get(rec.cloud) if spec.cache.enabled and rec else None,
        },
        "idempotency": {
            "header": rel.idempotency_header.lower(),
            "ttl_s": rel.idempotency_ttl_s,
        },
        "fallback": {
            "rules": model.fallback_rules,
            "model": fallback_model,
            # Only a fallback that ships in the artifact can answer early.
            "after_s": model.fallback_after_s if model.fallback_rules or fallback_model else None,
        },
        "hooks": {"preprocess": model.preprocess, "postprocess": model.postprocess},
        "observability": {"namespace": "svai", "service": spec.name},
        "server": {"host": "0.0.0.0", "port": SERVER_PORT},
    }


def _hook_files(spec: ResolvedSpec, base_dir: Path) -> dict[str, Path]:
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
        files[_normal(relative)] = safe_source(base_dir, relative, what)
    for template in model.prompt_templates:
        files[_normal(template)] = safe_source(base_dir, template, "model.prompt_templates")
    fallback_model = _local_fallback(spec)
    if fallback_model is not None:
        files[_normal(fallback_model)] = safe_source(
            base_dir, fallback_model, "model.fallback.model"
        )
    return files


def _local_fallback(spec: ResolvedSpec) -> str | None:
    """The fallback model file shipped in the artifact; a remote one (``s3://``...) is not."""
    fallback = spec.model.fallback_model
    return fallback if fallback is not None and "://" not in fallback else None


def _hook_path(base_dir: Path, module: str) -> str:
    # The runtime's hook loader accepts "file.py" and dotted module names; mirror its lookup.
    if module.endswith(".py"):
        return module
    dotted = "/".join(module.split("."))
    for candidate in (f"{dotted}.py", f"{dotted}/__init__.py"):
        if (base_dir / candidate).is_file() or (base_dir / candidate).is_symlink():
            return candidate
    return f"{dotted}.py"


def _normal(relative: str) -> str:
    return PurePosixPath(*[p for p in PurePosixPath(relative).parts if p != "."]).as_posix()


# ---- one target -------------------------------------------------------------------------------


def _shared_files(model: _Model, hooks: dict[str, Path]) -> dict[str, bytes]:
    """The files every target carries but its config: model, runtime code and the user's hooks.

    Read once per build, not once per target.
    """
    files = _runtime_code()
    for relative, source in sorted(hooks.items()):
        files[relative] = source.read_bytes()
    if model.data is not None:
        files[MODEL_NAME] = model.data
    return files


def _build_target(
    spec: ResolvedSpec,
    rec: TargetRecommendation,
    version: str,
    model: _Model,
    config: dict[str, Any],
    shared: dict[str, bytes],
    final: Path,
    *,
    vendor_deps: bool,
) -> TargetBuild:
    package, cloud = rec.choice.package, rec.cloud
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        notes: list[str] = list(model.notes)
        if model.data is not None:
            # Pinned: the runtime refuses a model file that is not the one built here.
            config = {**config, "model": {**config["model"], "sha256": model.info["sha256"]}}
        runtime = {**shared, CONFIG_NAME: _json_bytes(config)}
        front = _requirements(spec, (_FUNCTION_DEPS[cloud],))
        requirements = front if package == "zip" else _requirements(spec, ())
        extra: dict[str, bytes] = {REQUIREMENTS_NAME: requirements.encode()}
        if package == "zip":
            runtime.update(_function_entry(cloud, spec))
            members = dict(runtime)
        elif cloud == "aws" or rec.choice.mode == "async":
            # The async front door (and on AWS the endpoint proxy) are small zip functions beside
            # the image/endpoint: their zip carries the code and config, not the model.
            members = {k: v for k, v in runtime.items() if k != MODEL_NAME}
            members.update(_function_entry(cloud, spec))
        else:
            members = {}
        zipped = None
        if members:
            members.update(_function_deps(cloud, front, staging, vendor_deps, notes))
            zipped = _zip(members)
            if cloud == "aws":
                _check_lambda_size(len(zipped), sum(len(v) for v in members.values()))
        if package != "zip":
            extra["Dockerfile"] = _render(
                "Dockerfile.j2",
                base_image=BASE_IMAGE,
                image_name=spec.name,
                model_version=version,
                port=SERVER_PORT,
                uid=IMAGE_UID,
                healthcheck=_healthcheck(),
                command=["python", "-m", "svai.runtimes.server", "--config", f"/app/{CONFIG_NAME}"],
            ).encode()
            extra[".dockerignore"] = _render("dockerignore.j2", extra=[]).encode()
            if package == "model":
                notes.append(
                    "managed endpoint: this is its serving container (SageMaker /invocations "
                    "and /ping, Vertex AI AIP_* routes, Azure ML /score)"
                )
        if cloud == "aws":
            # The versioned artifact in S3 (and a SageMaker model's ModelDataUrl): model, config,
            # hooks and runtime code, as a reproducible tar.gz.
            extra[MODEL_TARBALL] = _tarball(runtime)
        files = dict(sorted({**runtime, **extra}.items()))
        for relative, data in files.items():
            _write(staging, relative, data)
        entries = tuple(_entry(relative, data) for relative, data in files.items())
        manifest = _json_bytes(_manifest(spec, rec, version, model, entries, zipped, notes))
        _write(staging, MANIFEST_NAME, manifest)
        if zipped is not None:
            _write(staging, ZIP_NAME, zipped)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TargetBuild(
        target=target_key(rec.cloud, rec.region),
        package=package,
        offering=rec.choice.offering,
        directory=final,
        files=(*entries, _entry(MANIFEST_NAME, manifest)),
        zip_bytes=len(zipped) if zipped is not None else None,
        notes=tuple(notes),
    )


def _runtime_code() -> dict[str, bytes]:
    here = Path(__file__).resolve().parent
    # The server lets `svai serve` run any build, zips included. Every build carries the entry
    # points (Lambda handlers, the async front door, the queue workers) and the cloud data-plane
    # clients: the zip functions beside an image and the image's worker run from the same code.
    packages = ["core", "server", "entry", "cloud"]
    files = {
        "svai/__init__.py": _PACKAGE_INIT.encode(),
        "svai/runtimes/__init__.py": _PACKAGE_INIT.encode(),
    }
    for name in packages:
        for source in sorted((here / name).glob("*.py")):
            files[f"svai/runtimes/{name}/{source.name}"] = source.read_bytes()
    return files


def _function_entry(cloud: str, spec: ResolvedSpec) -> dict[str, bytes]:
    """The entry point a function platform looks for at the zip's root (Lambda's is in entry/)."""
    if cloud == "gcp":
        return {"main.py": _render("gcp_main.py.j2").encode()}
    if cloud == "azure":
        # Function keys are Azure Functions' api keys; iam and jwt are checked by the platform's
        # built-in authentication before a request reaches the function (see the Azure backend).
        level = "FUNCTION" if spec.api.auth == "api-key" else "ANONYMOUS"
        return {
            "function_app.py": _render("azure_function_app.py.j2", auth_level=level).encode(),
            "host.json": _render("azure_host.json.j2").encode(),
        }
    return {}


def _function_deps(
    cloud: str, requirements: str, staging: Path, vendor: bool, notes: list[str]
) -> dict[str, bytes]:
    """What a function zip carries besides code: requirements, or the dependencies themselves."""
    if cloud == "gcp":
        # Cloud Run functions install requirements.txt from the source zip when they build.
        notes.append(
            "Cloud Run functions install requirements.txt (inside the zip) when they build"
            + ("; --vendor-deps is not needed there" if vendor else "")
        )
        return {REQUIREMENTS_NAME: requirements.encode()}
    if cloud == "azure":
        # A Flex Consumption app runs the package blob as uploaded (no remote build), so its
        # dependencies must be inside, where the Python worker looks for them.
        members = {REQUIREMENTS_NAME: requirements.encode()}
        if vendor:
            vendored = _vendor(requirements, staging, AZURE_PYTHON)
            members.update({f"{AZURE_SITE}/{k}": v for k, v in vendored.items()})
            notes.append(f"dependencies vendored into the zip under {AZURE_SITE}")
        else:
            notes.append(
                "dependencies are not in the package: Flex Consumption runs it as uploaded; "
                "rebuild with --vendor-deps (svai apply does)"
            )
        return members
    if vendor:
        notes.append("dependencies vendored into the zip (manylinux2014_x86_64 wheels)")
        return _vendor(requirements, staging, LAMBDA_PYTHON)
    notes.append(
        "dependencies are not in the Lambda zip: requirements.txt lists them; attach them as a "
        "Lambda layer or rebuild with --vendor-deps (needs the package index)"
    )
    return {}


def _requirements(spec: ResolvedSpec, extra: Sequence[str]) -> str:
    names = ["numpy", "onnxruntime", "orjson", *extra]
    if spec.model.task == "embedding":
        names.append("tokenizers")
    lines = ["# Generated by svai build: pinned to the versions svai was tested with here."]
    for name in sorted(names):
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}  # not installed where this was built: pin it yourself")
    return "\n".join(lines) + "\n"


def _vendor(requirements: str, staging: Path, python: str) -> dict[str, bytes]:
    """Install the requirements for a Linux x86_64 CPython ``python`` ("3.11") as zip members."""
    work = staging / ".vendor"
    work.mkdir()
    req = work / "requirements.txt"
    req.write_text(requirements, encoding="utf-8")
    target = work / "site"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--platform", "manylinux2014_x86_64", "--implementation", "cp",
        "--python-version", python,
        "--only-binary=:all:", "--target", str(target), "-r", str(req),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UsageError(
            "--vendor-deps: pip could not download the dependencies (it needs the package "
            f"index):\n{done.stderr.strip()[-2000:]}"
        )
    members: dict[str, bytes] = {}
    for path in sorted(target.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            members[path.relative_to(target).as_posix()] = path.read_bytes()
    shutil.rmtree(work)
    return members


def _zip(members: dict[str, bytes]) -> bytes:
    """A reproducible zip: sorted entries, fixed timestamps, fixed permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are honoured
            info.external_attr = (0o100000 | _FILE_MODE) << 16
            archive.writestr(info, members[name], compresslevel=6)
    return buffer.getvalue()


def _tarball(members: dict[str, bytes]) -> bytes:
    """A reproducible tar.gz: sorted entries, zero times and owners, fixed permissions."""
    import gzip
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = _FILE_MODE
            info.mtime = 0
            archive.addfile(info, io.BytesIO(members[name]))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def _check_lambda_size(zipped: int, unzipped: int) -> None:
    if zipped > LAMBDA_ZIP_LIMIT or unzipped > LAMBDA_UNZIPPED_LIMIT:
        raise UsageError(
            f"the Lambda zip is {zipped / MIB:,.1f} MiB zipped and {unzipped / MIB:,.1f} MiB "
            f"unzipped; Lambda allows {LAMBDA_ZIP_LIMIT / MIB:,.0f} MiB zipped (direct upload) "
            f"and {LAMBDA_UNZIPPED_LIMIT / MIB:,.0f} MiB unzipped. Use a container image "
            "(targets[].runtime: container) or a smaller/quantised model"
        )


def _healthcheck() -> list[str]:
    probe = (
        "import os, urllib.request; "
        "urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), "
        "timeout=2)"
    )
    return ["python", "-c", probe]


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # not HTML: values enter only through the `json` filter or as ints
        keep_trailing_newline=True,
    )
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=True)
    return env


def _render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


def _manifest(
    spec: ResolvedSpec,
    rec: TargetRecommendation,
    version: str,
    model: _Model,
    entries: tuple[FileEntry, ...],
    zipped: bytes | None,
    notes: list[str],
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": spec.name,
        "description": spec.description,
        "model_version": version,
        "target": target_key(rec.cloud, rec.region),
        "offering": rec.choice.offering,
        "package": rec.choice.package,
        "model": model.info,
        "remote": list(model.remote),
        "files": [asdict(e) for e in entries],
        "zip": asdict(_entry(ZIP_NAME, zipped)) if zipped is not None else None,
        "notes": notes,
    }


def _write(root: Path, relative: str, data: bytes) -> None:
    path = root.joinpath(*PurePosixPath(relative).parts)
    # Belt and braces: sources were checked, but nothing may land outside the staging folder.
    if not path.resolve().is_relative_to(root.resolve()):
        raise UsageError(f"refusing to write {relative!r} outside the build folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(_FILE_MODE)


def _entry(relative: str, data: bytes) -> FileEntry:
    return FileEntry(relative, hashlib.sha256(data).hexdigest(), len(data))


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
