"""``svai.api``: the library entry points; each CLI command calls exactly one of these.

Library users call the same functions::

    from svai import api
    spec = api.validate("svai.yaml")
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from svai.backends import automation
from svai.backends.preview import record
from svai.backends.registry import OFFERINGS, get_backend
from svai.backends.rules import evaluate
from svai.compiler.lower import lower
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.recommend import Measurements
from svai.compiler.recommend import recommend as _recommend
from svai.compiler.recommendation import Recommendation
from svai.compiler.version import model_version
from svai.errors import UsageError
from svai.runtimes import bench as _bench
from svai.runtimes import package as _package
from svai.spec import ResolvedSpec, Spec, load_spec, resolve

__all__ = [
    "LoadedSpec",
    "bench",
    "build",
    "deploy",
    "measurements",
    "plan",
    "recommend",
    "serve",
    "validate",
]


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    """A validated spec, its resolved form, and the folder its relative paths resolve against."""

    path: Path
    spec: Spec
    resolved: ResolvedSpec

    @property
    def base_dir(self) -> Path:
        """The folder holding the spec file."""
        return self.path.resolve().parent


def validate(path: str | Path) -> LoadedSpec:
    """Load, validate and resolve the spec at ``path``.

    Raises:
        svai.errors.SpecError: with every located problem.
    """
    spec = load_spec(path)
    return LoadedSpec(Path(path), spec, resolve(spec))


def measurements(loaded: LoadedSpec) -> Measurements:
    """Return the figures measured on the real artifact.

    What ``svai bench`` saved in ``.svai/measurements.json`` (load time, latency, memory, built
    model size) when it was measured on the spec's current model version; otherwise what can be
    measured without running the model: the local artifact's size.
    """
    saved = loaded.base_dir / _bench.MEASUREMENTS_FILE
    if saved.is_file():
        try:
            version = model_version(loaded.resolved, loaded.base_dir)
        except UsageError:
            version = None  # a missing hook file: `svai plan` reports it; no stale figures here
        measured = _bench.read_measurements(saved, version) if version else None
        if measured is not None:
            return measured
    model = loaded.resolved.model
    if model.artifact_scheme == "local":
        artifact = loaded.base_dir / model.artifact
        if artifact.is_file():
            return Measurements(artifact_bytes=artifact.stat().st_size)
    return Measurements()


def recommend(path: str | Path) -> tuple[LoadedSpec, Recommendation]:
    """Validate the spec at ``path`` and recommend a runtime for each of its targets."""
    loaded = validate(path)
    return loaded, _recommend(loaded.resolved, measurements(loaded), buildable=OFFERINGS)


def plan(path: str | Path) -> tuple[LoadedSpec, PlanResult]:
    """Compile every target of the spec at ``path`` offline: recommendation, plan, resources.

    The backend programs run under Pulumi mocks (no CLI, no credentials, no network); only the
    SDKs of the clouds the spec targets are imported.
    """
    loaded, recommendation = recommend(path)
    spec = loaded.resolved
    version = model_version(spec, loaded.base_dir)
    targets = []
    for target, target_rec in zip(spec.targets, recommendation.targets, strict=True):
        deployment = lower(spec, target, target_rec, version)
        backend = get_backend(target.cloud)
        resources = record(
            functools.partial(backend.program, deployment),
            project=spec.name,
            stack=f"{target.cloud}-{target.region}",
        )
        findings = evaluate(backend.rules(), resources, deployment)
        targets.append(PlannedTarget(target_rec, deployment, resources, tuple(findings)))
    return loaded, PlanResult(spec.name, version, recommendation, tuple(targets))


def deploy(
    path: str | Path,
    operation: Literal["preview", "up", "destroy"],
    *,
    environment: str = "dev",
    backend_url: str | None = None,
    allow_high_findings: bool = False,
) -> tuple[PlanResult, automation.Result]:
    """Run a real Pulumi ``preview``, ``up`` or ``destroy`` of every target of the spec.

    The plan is compiled (and checked) offline first; ``up`` refuses to deploy a plan with high
    findings unless ``allow_high_findings``. State lives in ``.svai/state`` beside the spec
    unless ``backend_url`` names another Pulumi backend.

    Raises:
        svai.errors.ToolMissingError: the pulumi CLI, the passphrase or credentials are missing.
        svai.errors.UsageError: high findings block ``up``.
        svai.errors.DeployError: Pulumi or the cloud refused the operation.
    """
    automation.check_pulumi()  # before any work: the most common reason this cannot run
    loaded, result = plan(path)
    high = [f for t in result.targets for f in t.findings if f.severity == "high"]
    if operation == "up" and high and not allow_high_findings:
        rules = ", ".join(sorted({f.rule for f in high}))
        raise UsageError(
            f"{len(high)} high finding(s) block deployment ({rules}); see `svai plan`, fix them, "
            "or pass --allow-high-findings"
        )
    run = {"preview": automation.preview, "up": automation.up, "destroy": automation.destroy}[
        operation
    ]
    outcome = run(
        [t.plan for t in result.targets],
        stack=environment,
        backend_url=backend_url,
        work_dir=loaded.base_dir,
    )
    return result, outcome


def build(
    path: str | Path,
    *,
    target: str = "all",
    out_dir: str | Path | None = None,
    vendor_deps: bool = False,
    progress: Callable[[str], None] | None = None,
) -> _package.BuildResult:
    """Build the deployable artifact of each target's recommended runtime (``svai build``).

    Artifacts land in ``<out_dir>/<name>/<model version>/<cloud>-<region>/`` (default
    ``.svai/build`` beside the spec); see :mod:`svai.runtimes.package`.

    Raises:
        svai.errors.UsageError: an unknown target, an unsafe path, an unbuildable model.
    """
    loaded, recommendation = recommend(path)
    return _package.build(
        loaded.resolved,
        loaded.base_dir,
        recommendation,
        model_version(loaded.resolved, loaded.base_dir),
        out_dir=Path(out_dir) if out_dir is not None else None,
        target=target,
        vendor_deps=vendor_deps,
        progress=progress,
    )


def _built_dir(
    path: str | Path,
    *,
    target: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Return the artifact folder for ``path``: a build folder itself, or a spec's (built now).

    ``target`` picks the spec's target (default: the first one); the current model version is
    built first when its folder does not exist yet.
    """
    given = Path(path)
    if given.is_dir():
        if not (given / _package.CONFIG_NAME).is_file():
            raise UsageError(f"{given} is not a build folder (no {_package.CONFIG_NAME} in it)")
        return given.resolve()
    loaded = validate(given)
    spec = loaded.resolved
    keys = [_package.target_key(t.cloud, t.region) for t in spec.targets]
    key = target or keys[0]
    if key not in keys:
        raise UsageError(f"--target {key!r}: no such target in the spec (known: {', '.join(keys)})")
    version = model_version(spec, loaded.base_dir)
    folder = _package.target_dir(
        _package.default_out_dir(loaded.base_dir).resolve(), spec.name, version, key
    )
    if not (folder / _package.MANIFEST_NAME).is_file():
        build(given, target=key, progress=progress)
    return folder


def serve(
    path: str | Path,
    *,
    target: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run a built artifact's HTTP server locally, as deployed; return its exit code.

    ``path`` is a spec (built first if needed) or a build folder.
    """
    return _bench.serve(_built_dir(path, target=target, progress=progress), host, port)


def bench(
    path: str | Path,
    *,
    payload: str | Path | None = None,
    requests: int = 200,
    target: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> _bench.BenchResult:
    """Measure the built artifact of the spec at ``path`` and save the figures (``svai bench``).

    Payloads: the JSON file ``payload`` (one request body, or a list of them), else the
    request payloads of the spec's eval set. The result is written to
    ``.svai/measurements.json`` beside the spec, where :func:`measurements` picks it up.

    Raises:
        svai.errors.UsageError: no payload to send, a payload file that is not JSON, a request
            that fails.
    """
    loaded = validate(path)
    payloads = _bench_payloads(loaded, payload)
    folder = _built_dir(path, target=target, progress=progress)
    result = _bench.bench(folder, payloads, requests)
    _bench.write_measurements(loaded.base_dir / _bench.MEASUREMENTS_FILE, result)
    return result


def _bench_payloads(loaded: LoadedSpec, payload: str | Path | None) -> list[Any]:
    if payload is not None:
        try:
            data = json.loads(Path(payload).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"--payload: cannot read {payload}: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(f"--payload: {payload} is not JSON ({exc})") from None
        return data if isinstance(data, list) else [data]
    cases = _package.read_eval_set(loaded.resolved, loaded.base_dir)
    if not cases:
        raise UsageError(
            "svai bench needs sample requests: pass --payload FILE.json (a request body such as "
            '{"inputs": [[...]]}, or a list of them), or set rollout.gates.eval_set in the spec'
        )
    return [case.payload for case in cases]
