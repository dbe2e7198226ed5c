"""Packaging: turn a resolved spec and its recommendation into deployable artifacts (``svai build``).

Per target, under ``<out>/<name>/<model version>/<cloud>-<region>/``:

* ``model.onnx``: the optimised model (an ONNX file copied or int8-quantised behind the accuracy
  check of :mod:`svai.build.optimize`; a trusted scikit-learn/XGBoost/LightGBM pickle converted
  to ONNX so scikit-learn is not imported at serve time). A remote artifact (``s3://``, ``hf://``
  ...) cannot be fetched offline: it is recorded in ``manifest.json`` for the deployment to fetch;
* ``svai_runtime.json``: the spec mapped onto the runtime config. Spec values reach code only as
  this data, never pasted into source;
* the runtime code (``svai/runtime/core`` and ``server``; ``entry`` for Lambda zips) and the
  user's hook files at their relative paths (paths that climb out of the project are refused);
* ``requirements.txt`` pinned to the versions installed here;
* ``function.zip`` (reproducible: sorted entries, fixed timestamps and permissions) with the
  platform's entry point: the Lambda handler (``svai.runtime.entry.aws_lambda.handler``; the zip
  is checked against the Lambda size limits, dependencies go in a layer or ``--vendor-deps``),
  ``main.py`` for Cloud Run functions (``--entry-point predict``) or ``function_app.py`` +
  ``host.json`` for Azure Functions (those two install the zip's ``requirements.txt``); or a
  container build context (``Dockerfile`` rendered by jinja2, ``.dockerignore``) for containers
  and managed endpoints;
* ``manifest.json``: version, every file with its sha256 and size, the optimisation result and
  what is referenced remotely.

The steps live beside this module: :mod:`svai.build.artifact` (names, paths, archives),
:mod:`svai.build.model`, :mod:`svai.build.config` and :mod:`svai.build.target`.

The same spec builds byte-identical files wherever and however often it is built. Each target is
assembled in a scratch folder beside its final place and renamed into place only when complete.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svai.build.artifact import (
    BUILD_DIR_NAME,
    CONFIG_NAME,
    MANIFEST_NAME,
    FileEntry,
    default_out_dir,
    safe_source,
    target_dir,
    target_key,
)
from svai.build.config import hook_files, runtime_config
from svai.build.engine_model import prepare_engine_folder
from svai.build.model import EvalCase, prepare_model, read_eval_set
from svai.build.target import TargetBuild, build_target, shared_files
from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.errors import UsageError
from svai.spec.engines import EngineProblem, gpu_engine
from svai.spec.resolve import ResolvedSpec

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


Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """The artifacts of one build."""

    name: str
    model_version: str
    optimisation: dict[str, Any]
    targets: tuple[TargetBuild, ...]
    notes: tuple[str, ...] = field(default=())


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
    engine = gpu_engine(spec)
    if isinstance(engine, EngineProblem):  # never a CPU-only package for a GPU target
        raise UsageError(str(engine))
    with tempfile.TemporaryDirectory(prefix="svai-model-") as scratch:
        say(f"model: preparing {spec.model.artifact} ({spec.model.framework})")
        model = (
            prepare_engine_folder(spec, base_dir, engine)
            if engine is not None
            else prepare_model(spec, base_dir, Path(scratch))
        )
        for note in model.notes:
            say(f"model: {note}")
        shared = shared_files(model, hook_files(spec, base_dir))
        built = []
        for rec in chosen:
            key = target_key(rec.cloud, rec.region)
            say(f"{key}: building {rec.choice.package} for {rec.choice.name}")
            final = target_dir(root, spec.name, version, key)
            built.append(
                build_target(
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
