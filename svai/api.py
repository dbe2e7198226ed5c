"""``svai.api``: the library entry points; each CLI command calls exactly one of these.

Library users call the same functions::

    from svai import api
    spec = api.validate("svai.yaml")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from svai.backends import automation
from svai.backends.preview import record
from svai.backends.registry import get_backend
from svai.backends.rules import evaluate
from svai.compiler.lower import lower
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.recommend import Measurements
from svai.compiler.recommend import recommend as _recommend
from svai.compiler.recommendation import Recommendation
from svai.compiler.version import model_version
from svai.errors import UsageError
from svai.spec import ResolvedSpec, Spec, load_spec, resolve

__all__ = ["LoadedSpec", "deploy", "measurements", "plan", "recommend", "validate"]


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
    """Return what can be measured without running the model: the local artifact's size.

    ``svai bench`` adds load time, latency and memory measured on the real artifact.
    """
    model = loaded.resolved.model
    if model.artifact_scheme == "local":
        artifact = loaded.base_dir / model.artifact
        if artifact.is_file():
            return Measurements(artifact_bytes=artifact.stat().st_size)
    return Measurements()


def recommend(path: str | Path) -> tuple[LoadedSpec, Recommendation]:
    """Validate the spec at ``path`` and recommend a runtime for each of its targets."""
    loaded = validate(path)
    return loaded, _recommend(loaded.resolved, measurements(loaded))


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
            lambda b=backend, d=deployment: b.program(d),
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
