"""``svai.release``: the release commands, ``svai versions``, ``svai promote``, ``svai rollback``.

A release moves traffic from the version serving to the spec's version in steps, checking the
gates before each step (``docs/releases.md``). The state machine and gates are pure
(:mod:`svai.compiler.rollout`, :mod:`svai.compiler.release_state`); this module compiles each
step with the pipeline's entry points in :mod:`svai.api` and deploys it through the Automation
API. It sits above :mod:`svai.api` (import-linter), which knows nothing of releases.

Library users call it as the CLI does::

    from svai import release
    outcome = release.promote("svai.yaml", dry_run=True)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from svai import api
from svai.backends import automation
from svai.backends import gate as _backend_gate
from svai.backends.base import Backend
from svai.backends.cloud import Shifted
from svai.backends.registry import cloud, get_backend
from svai.build import bench as _bench
from svai.compiler import gate as _gate
from svai.compiler import release_state as _release_state
from svai.compiler import rollout as _rollout
from svai.compiler.lower import lower
from svai.compiler.planned import PlanResult
from svai.compiler.recommendation import Recommendation
from svai.compiler.version import model_version
from svai.controller import revisions as _revisions
from svai.controller import sync as _controller
from svai.controller import traffic as _traffic
from svai.errors import UsageError
from svai.ir import DeploymentPlan
from svai.signals import evidence as _signals
from svai.signals.drift import live_drift_evidence
from svai.signals.model import window_ending
from svai.spec.paths import project_path

__all__ = [
    "ReleaseOutcome",
    "ReleasePlan",
    "VersionsReport",
    "promote",
    "release_plan",
    "rollback",
    "shifts",
    "start_release",
    "versions",
]


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """One release action compiled offline: the state change, its gates and the step's plan.

    Attributes:
        action: ``apply`` (start the release of the spec's version), ``promote`` or
            ``rollback``.
        environment: The environment (one Pulumi stack and one state file per environment).
        state_file: Where the release state lives (``.svai/releases/<name>-<env>.json``).
        spec_version: The version id of the spec as it is on disk now.
        transition: The state before and after, whether anything changes, and a message.
        gates: Every gate checked before the step (empty when the action has none).
        gate_failed: A gate failed, so the action became a rollback.
        result: Every target compiled at the state after the action (resources under mocks);
            ``None`` when nothing was ever deployed.
    """

    action: Literal["apply", "promote", "rollback"]
    environment: str
    state_file: Path
    spec_version: str
    transition: _rollout.Transition
    gates: tuple[_rollout.GateResult, ...]
    gate_failed: bool
    result: PlanResult | None
    reconciled: _controller.Synced | None = None
    """What reading the deployment's bucket found (``None`` when no bucket is known yet)."""
    policy: _gate.Policy | None = None
    """The gate policy the bucket gets beside the state (what the scheduled gate job reads)."""
    shifts: tuple[Shifted, ...] = ()
    """Where the traffic shifts the clouds run by themselves stand (CodeDeploy), as ``promote``
    read them: their outcome, not the gates, decides the step."""


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    """What a release command did: its plan, and the Pulumi result when it deployed."""

    plan: ReleasePlan
    deployed: automation.Result | None
    state_written: bool
    moved: tuple[_traffic.Routed, ...] = ()
    shifted: tuple[Shifted, ...] = ()
    """The clouds' own shifts this step started (``apply``) or stopped (``rollback``)."""
    retired: tuple[_revisions.Retired, ...] = ()
    """Container app revisions the release's end left at 0%: deactivated, or why not."""


def release_plan(
    path: str | Path,
    action: Literal["apply", "promote", "rollback"],
    *,
    environment: str = "dev",
    to_end: bool = False,
    to: str | None = None,
    evidence: str | Path | None = None,
    window_s: int = _signals.DEFAULT_WINDOW_S,
    placeholders: bool = True,
    compile_targets: bool = True,
    targets: Sequence[str] | None = None,
) -> ReleasePlan:
    """Compile the next release step offline, without changing anything (the dry run).

    ``apply`` starts releasing the spec's current version (its first stage; the very first
    deployment takes all traffic). ``promote`` checks the gates against ``evidence`` (default:
    ``.svai/measurements.json``, what ``svai bench`` wrote, and the live signals of the last
    ``window_s`` seconds read from each target's cloud, :mod:`svai.signals`) and moves one stage,
    or to the end with ``to_end``; a failed gate turns it into a rollback, too few live requests
    hold it. Where the cloud shifts the traffic itself (CodeDeploy on
    Lambda), ``promote`` reads the deployment instead: still shifting holds, succeeded
    completes, stopped or failed (CodeDeploy rolled back) records the rollback. When no release
    is in progress and the spec holds a new version, ``promote`` starts that release (as
    ``apply`` does).
    ``rollback`` points traffic back at the previous version, or at ``to``.

    Args:
        path: The spec.
        action: What to plan.
        environment: The environment.
        to_end: ``promote --all``.
        to: ``rollback --to VERSION``.
        evidence: The gate evidence file (JSON); when given, the clouds are not read.
        window_s: How far back the live signals are read.
        placeholders: Show ``<version>`` for Lambda version numbers no apply has recorded yet
            (a dry run); when ``False`` a missing number is an error.
        compile_targets: Compile every target at the new state (``False``: the state change
            and gates only, ``result`` is ``None``).
        targets: ``apply --target``: the targets to deploy (``cloud-region``); required when
            some target cannot be served, and then exactly the ones that can.

    Raises:
        svai.errors.UsageError: an impossible action (another release in progress, an unknown
            ``--to`` version, an unreadable evidence or state file, infeasible targets without
            ``--target``).
    """
    loaded, recommendation = api.recommend(path)
    spec = loaded.resolved
    if action == "apply":
        api.check_targets(spec, recommendation, targets)
    version = model_version(spec, loaded.base_dir)
    file = _release_state.state_path(loaded.base_dir, spec.name, environment)
    state = _release_state.read_state(file, spec.name, environment)
    reconciled = _controller.reconcile(loaded.base_dir, spec.name, environment, state)
    if reconciled is not None:
        state = reconciled.reconciled.state
    gates: tuple[_rollout.GateResult, ...] = ()
    failed = False
    served = [(t.cloud, t.region) for _, t in api.served(spec, recommendation)]
    # Where a cloud shifts the traffic itself (CodeDeploy), its outcome decides the step.
    by_cloud = _read_shifts({c for c, _ in served}, state) if action == "promote" else ()
    if by_cloud and _left_to_the_gates(by_cloud, served):
        by_cloud = ()  # the gates take the step, and route every alias as they do without
    if action == "rollback":
        transition = _rollout.revert(state, to=to)
    elif by_cloud:
        transition, failed = _shift_outcome(state, by_cloud)
    elif action == "promote" and state.status == "in-progress":
        assert state.candidate is not None
        gates = _check_gates(
            loaded, recommendation, state.candidate, evidence, live=True, window_s=window_s
        )
        decision = _gate.decide(state, gates, to_end=to_end)
        transition, failed = decision.transition, decision.verdict == "rollback"
    elif action == "promote" and (state.deployed == version or state.status == "none"):
        transition = _rollout.start(state, version, spec.rollout)
        if not transition.changed:
            transition = _rollout.advance(state, to_end=to_end)
    else:
        transition = _rollout.start(state, version, spec.rollout)
        if transition.changed and state.serving is not None and spec.rollout.gates is not None:
            gates = _check_gates(loaded, recommendation, version, evidence, live=False)
            failed = any(not g.passed for g in gates)
            if failed:
                transition = _rollout.Transition(
                    state,
                    state,
                    False,
                    f"gates failed: {version} is not released: "
                    + _gate.reasons([g for g in gates if not g.passed]),
                )
    after = transition.after
    result = None
    if after.deployed is not None and compile_targets:
        result = _release_targets(loaded, recommendation, after, placeholders=placeholders)
    policy = _controller.policy(spec, served, environment)
    return ReleasePlan(
        action,
        environment,
        file,
        version,
        transition,
        gates,
        failed,
        result,
        reconciled,
        policy,
        by_cloud,
    )


def _read_shifts(
    clouds: Collection[str], state: _release_state.ReleaseState
) -> tuple[Shifted, ...]:
    """Where the release's traffic shifts run by the clouds themselves stand (none elsewhere)."""
    found: list[Shifted] = []
    for name in sorted(clouds):
        hooks = cloud(name).release
        if hooks is not None and hooks.shift is not None:
            found += hooks.shift.read(state)
    return tuple(found)


def _left_to_the_gates(shifts: Sequence[Shifted], served: Sequence[tuple[str, str]]) -> bool:
    """Whether the step is still svai's gates' to take though the clouds' own shifts ran.

    Where every such shift succeeded but the release also serves from targets no shift covers
    (another cloud, or another region), those targets step by the gates as before: CodeDeploy
    finishing on Lambda says nothing of a Cloud Run canary. A shift still running or rolled back
    decides for the whole release (held, or rolled back everywhere). Shifts are keyed
    ``<region>/<service>``, and no two clouds spell a region alike.
    """
    shifted = {s.where.partition("/")[0] for s in shifts}
    return all(s.outcome == "succeeded" for s in shifts) and any(
        region not in shifted for _, region in served
    )


def _shift_outcome(
    state: _release_state.ReleaseState, shifts: Sequence[Shifted]
) -> tuple[_rollout.Transition, bool]:
    """The step the clouds' own shifts took: rolled back, still shifting (held), or complete.

    The cloud moved the traffic itself (CodeDeploy on its alarms), so the state records what it
    did and nothing is routed again; a rollback counts as a failed gate (exit 1).
    """
    lines = "; ".join(s.line for s in shifts)
    if any(s.outcome == "rolled-back" for s in shifts):
        return _rollout.revert(state, reason=lines), True
    if any(s.outcome == "shifting" for s in shifts):
        held = f"held: the cloud is still shifting traffic by itself: {lines}"
        return _rollout.Transition(state, state, False, held), False
    done = _rollout.advance(state, to_end=True)
    *rest, last = done.after.history  # say which deployment completed it, not `--all`
    after = dataclasses.replace(done.after, history=(*rest, dataclasses.replace(last, note=lines)))
    return dataclasses.replace(done, after=after), False


def shifts(path: str | Path, *, environment: str = "dev") -> tuple[Shifted, ...]:
    """Where the release's traffic shifts run by the clouds themselves stand (``svai status``).

    Raises:
        svai.errors.ToolMissingError: no credentials for a cloud that runs one.
        svai.errors.DeployError: the cloud refused the read.
    """
    loaded, recommendation = api.recommend(path)
    spec = loaded.resolved
    file = _release_state.state_path(loaded.base_dir, spec.name, environment)
    state = _release_state.read_state(file, spec.name, environment)
    return _read_shifts({t.cloud for _, t in api.served(spec, recommendation)}, state)


def promote(
    path: str | Path,
    *,
    environment: str = "dev",
    to_end: bool = False,
    evidence: str | Path | None = None,
    window_s: int = _signals.DEFAULT_WINDOW_S,
    dry_run: bool = False,
    state_only: bool = False,
    backend_url: str | None = None,
) -> ReleaseOutcome:
    """Move the release one step forward when its gates pass (``svai promote``).

    A failed gate rolls back instead (and the outcome's plan says so). With ``dry_run`` nothing
    changes; with ``state_only`` the release state is written but Pulumi is not run (the plan
    is deployed by other means); otherwise the step is deployed through the Automation API.

    Raises:
        svai.errors.ToolMissingError: the pulumi CLI, passphrase or credentials (also those
            that read the live signals, without ``evidence``) are missing.
        svai.errors.UsageError: see :func:`release_plan`.
        svai.errors.DeployError: Pulumi or the cloud refused the step, or a signal query.
    """
    return _release(
        path, "promote", environment, dry_run, state_only, backend_url,
        to_end=to_end, evidence=evidence, window_s=window_s,
    )  # fmt: skip


def rollback(
    path: str | Path,
    *,
    environment: str = "dev",
    to: str | None = None,
    dry_run: bool = False,
    state_only: bool = False,
    backend_url: str | None = None,
) -> ReleaseOutcome:
    """Point all traffic back at the previous version, or at ``to`` (``svai rollback``).

    Raises:
        svai.errors.ToolMissingError: the pulumi CLI, passphrase or credentials are missing.
        svai.errors.UsageError: see :func:`release_plan`.
        svai.errors.DeployError: Pulumi or the cloud refused the rollback.
    """
    return _release(path, "rollback", environment, dry_run, state_only, backend_url, to=to)


def start_release(
    path: str | Path,
    *,
    environment: str = "dev",
    evidence: str | Path | None = None,
    dry_run: bool = False,
    state_only: bool = False,
    backend_url: str | None = None,
    targets: Sequence[str] | None = None,
) -> ReleaseOutcome:
    """Release the spec's version: its first step (what ``svai apply`` does for a release).

    ``targets`` (``--target``) names the targets to deploy when some cannot be served: exactly
    the ones that can (:func:`svai.api.check_targets`).

    Raises:
        svai.errors.ToolMissingError: the pulumi CLI, passphrase or credentials are missing.
        svai.errors.UsageError: see :func:`release_plan`.
        svai.errors.DeployError: Pulumi or the cloud refused the step.
    """
    return _release(
        path, "apply", environment, dry_run, state_only, backend_url,
        evidence=evidence, targets=targets,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class VersionsReport:
    """The versions of one spec in one environment (``svai versions``)."""

    name: str
    environment: str
    spec_version: str
    state: _release_state.ReleaseState
    targets: tuple[tuple[str, str, str, str], ...]
    """(cloud, region, offering, how the offering splits traffic) per target."""
    outputs: dict[str, Any]
    """The stack outputs of the last apply (empty when never deployed from here)."""


def versions(path: str | Path, *, environment: str = "dev") -> VersionsReport:
    """List the versions released in ``environment``: the state file and the stack outputs."""
    loaded, recommendation = api.recommend(path)
    spec = loaded.resolved
    state = _release_state.read_state(
        _release_state.state_path(loaded.base_dir, spec.name, environment),
        spec.name,
        environment,
    )
    rows = []
    for target in recommendation.targets:
        offering = target.choice.offering
        how = _rollout.support(offering, spec.rollout.strategy).how
        rows.append((target.cloud, target.region, offering, how))
    outputs_file = loaded.base_dir / ".svai" / "outputs" / f"svai-{spec.name}-{environment}.json"
    outputs: dict[str, Any] = {}
    if outputs_file.is_file():
        try:
            outputs = json.loads(outputs_file.read_text(encoding="utf-8"))
        except ValueError:
            outputs = {}
    return VersionsReport(
        spec.name,
        environment,
        model_version(spec, loaded.base_dir),
        state,
        tuple(rows),
        outputs,
    )


def _release(
    path: str | Path,
    action: Literal["apply", "promote", "rollback"],
    environment: str,
    dry_run: bool,
    state_only: bool,
    backend_url: str | None,
    **options: Any,
) -> ReleaseOutcome:
    if not dry_run and not state_only:
        automation.check_pulumi()  # before any work: the most common reason this cannot run
    planned = release_plan(
        path,
        action,
        environment=environment,
        placeholders=dry_run or state_only,
        compile_targets=not state_only,
        **options,
    )
    after = planned.transition.after
    if dry_run:
        return ReleaseOutcome(planned, None, False)
    if not planned.transition.changed:
        # Nothing to deploy; still bring the two copies of the state level (reconcile).
        written = _controller.settle(
            _spec_dir(path), planned.state_file, planned.reconciled, after, planned.policy
        )
        return ReleaseOutcome(planned, None, written)
    deployed = None
    moved: tuple[_traffic.Routed, ...] = ()
    shifted: tuple[Shifted, ...] = ()
    if not state_only:
        assert planned.result is not None
        high = [f for t in planned.result.targets for f in t.findings if f.severity == "high"]
        if high:
            rules = ", ".join(sorted({f.rule for f in high}))
            raise UsageError(
                f"{len(high)} high finding(s) block this release step ({rules}); "
                "see `svai plan` and fix them"
            )
        # What this step uploads: the reproducible build of every target (same inputs, same
        # bytes, so rebuilding here is safe and keeps the upload in step with the plan). Function
        # zips carry their dependencies: Lambda and a Flex Consumption package run as uploaded.
        folders = {t.target: str(t.directory) for t in api.build(path, vendor_deps=True).targets}
        # The AWS backend must know the Lambda version number of the other live version, or
        # the alias would send everything to the new one; unknown numbers stop here.
        backends: dict[str, Backend] = {
            t.plan.cloud: _release_backend(
                t.plan,
                after,
                placeholders=False,
                build_dir=folders.get(f"{t.plan.cloud}-{t.plan.region}"),
            )
            for t in planned.result.targets
        }
        deployed = automation.up(
            [t.plan for t in planned.result.targets],
            stack=environment,
            backend_url=backend_url,
            work_dir=_spec_dir(path),
            backends=backends,
        )
        plans = [t.plan for t in planned.result.targets]
        after = _record_versions(after, deployed.outputs, {p.cloud for p in plans})
        # Where CodeDeploy owns an alias, `up` left it alone: a new release starts its
        # deployment (CodeDeploy shifts it, and rolls it back on the alarms), a person's
        # rollback stops the one still running.
        after, shifted = _shift(action, planned.transition.before, after, plans, deployed.outputs)
        # Where the gate job owns the aliases, `up` left their split alone too (ignore_changes):
        # route them with the job's own call, so a person and the job move traffic one way.
        # CodeDeploy's aliases likewise, unless CodeDeploy moves them in this very step.
        by_cloud = bool(shifted and action != "rollback") or bool(planned.shifts)
        regions = [
            (p.cloud, p.region)
            for p in plans
            if (owner := _backend_gate.alias_owner(p)) == "gate"
            or (owner == "codedeploy" and not by_cloud)
        ]
        # Cloud Run services and container apps likewise: `up` named the revisions and left
        # the traffic alone; the routes come from the stack outputs of this very `up`. (A
        # SageMaker endpoint's weights came with its new configuration: `up` set them.)
        routes = [
            r
            for r in _controller.routes_in(deployed.outputs)
            if not _traffic.up_routes_services(r.cloud)
        ]
        moved = (
            *(_traffic.move(after, regions) if regions else ()),
            *_revisions.move(after, routes),
        )
    _release_state.write_state(planned.state_file, after)
    _controller.push(_spec_dir(path), after, planned.policy, planned.reconciled)
    # Once the end is recorded: the revisions it left at 0% stop their minimum replicas.
    retired = _revisions.retire(after, moved)
    return ReleaseOutcome(planned, deployed, True, moved, shifted, retired)


def _shift(
    action: str,
    before: _release_state.ReleaseState,
    after: _release_state.ReleaseState,
    plans: Sequence[DeploymentPlan],
    outputs: Any,
) -> tuple[_release_state.ReleaseState, tuple[Shifted, ...]]:
    """Start (a new release) or stop (a rollback) the shifts the clouds run by themselves.

    Returns ``after`` with the started deployments recorded under the deployed version (so
    ``promote`` can read their outcome), and what was started or stopped.
    """
    started = after.status == "in-progress" and after.candidate != before.candidate
    done: list[Shifted] = []
    for name in sorted({p.cloud for p in plans}):
        hooks = cloud(name).release
        if hooks is None or hooks.shift is None:
            continue
        if action == "rollback":
            done += hooks.shift.stop(before)
        elif started:
            for plan in plans:
                if plan.cloud == name:
                    done += hooks.shift.start(plan, after, dict(outputs))
    if started and done and after.deployed is not None:
        ids = {s.where: s.deployment for s in done}
        after = dataclasses.replace(after, deployments={**after.deployments, after.deployed: ids})
    return after, tuple(done)


def _spec_dir(path: str | Path) -> Path:
    """The spec's folder, as ``LoadedSpec.base_dir``: where ``.svai/`` lives."""
    return Path(path).resolve().parent


def _record_versions(
    state: _release_state.ReleaseState, outputs: Any, clouds: set[str]
) -> _release_state.ReleaseState:
    """Remember what each deployed cloud's release hook records (AWS: Lambda version numbers)."""
    numbers: dict[str, str] = {}
    for name in sorted(clouds):
        hooks = cloud(name).release
        if hooks is not None:
            numbers.update(hooks.record(dict(outputs)))
    if not numbers or state.deployed is None:
        return state
    known = {k: dict(v) for k, v in state.lambda_versions.items()}
    known[state.deployed] = numbers
    return dataclasses.replace(state, lambda_versions=known)


def _read_evidence(loaded: api.LoadedSpec, evidence: str | Path | None) -> dict[str, Any]:
    given = Path(evidence) if evidence is not None else loaded.base_dir / _bench.MEASUREMENTS_FILE
    if not given.is_file():
        if evidence is not None:
            raise UsageError(f"--evidence: {evidence} does not exist")
        return {}
    try:
        data = json.loads(given.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"--evidence: {given} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--evidence: {given} must hold a JSON object")
    return data


def _eval_evidence(loaded: api.LoadedSpec, candidate: str) -> dict[str, Any]:
    """The offline metrics of ``candidate``: saved by ``svai eval``, or computed now.

    Computed only when ``candidate`` is the spec's own version (its artifact can be built here);
    for another version nothing is known, and the gate says the metric is missing.
    """
    saved = project_path(loaded.base_dir, api.EVAL_FILE, "eval evidence")
    if saved.is_file():
        try:
            data = json.loads(saved.read_text(encoding="utf-8"))
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("model_version") == candidate:
            return {"metrics": data.get("metrics"), "samples": data.get("samples")}
    if candidate != model_version(loaded.resolved, loaded.base_dir):
        return {"metrics_error": f"no svai eval evidence for {candidate} (run it on that version)"}
    try:
        result = api.run_eval(loaded)
    except UsageError as exc:
        return {"metrics_error": f"svai eval failed: {exc}"}
    return {"metrics": result.metrics, "samples": result.samples}


def _check_gates(
    loaded: api.LoadedSpec,
    recommendation: Recommendation,
    candidate: str,
    evidence: str | Path | None,
    *,
    live: bool,
    window_s: int = _signals.DEFAULT_WINDOW_S,
) -> tuple[_rollout.GateResult, ...]:
    """Check ``candidate`` against the spec's gates, with the evidence file and the prediction.

    An offline metric the evidence lacks is computed (``svai eval`` on the built artifact)
    rather than reported missing. Without an evidence file the live signals are read from the
    clouds; with fewer requests than ``min_samples`` every live gate holds.
    """
    costs = [t.predicted.cost_per_1k_usd for t in recommendation.targets]
    given = _read_evidence(loaded, evidence)
    samples: _rollout.GateResult | None = None
    if live and evidence is None:
        given, samples = _live_signals(loaded, recommendation, candidate, given, window_s)
    gates = loaded.resolved.rollout.gates
    metrics = given.get("metrics")
    if gates is not None and not (isinstance(metrics, dict) and gates.metric in metrics):
        given = {**given, **_eval_evidence(loaded, candidate)}
    results = _rollout.evaluate_gates(
        loaded.resolved,
        candidate,
        given,
        cost_per_1k_usd=max(costs) if costs else None,
        live=live and samples is None,
    )
    if samples is None:
        return results
    # Read from the clouds: too few requests to judge hold the live gates rather than decide.
    live_results = _gate.judge_live(loaded.resolved.rollout, given["live"], samples)
    return (*results, *live_results, *_rollout.drift_gate(loaded.resolved, given))


def _live_signals(
    loaded: api.LoadedSpec,
    recommendation: Recommendation,
    candidate: str,
    given: dict[str, Any],
    window_s: int,
) -> tuple[dict[str, Any], _rollout.GateResult]:
    """``given`` with the ``live`` signals of ``candidate`` read from every served target."""
    spec = loaded.resolved
    gates = spec.rollout.gates
    targets = [(t.cloud, t.region) for _, t in api.served(spec, recommendation)]
    window = window_ending(window_s)
    live, samples, _ = _signals.live_evidence(
        spec.name,
        targets,
        candidate,
        window,
        gates.min_samples if gates is not None else _signals.DEFAULT_MIN_SAMPLES,
    )
    drift = live_drift_evidence(spec, loaded.base_dir, targets, candidate, window)
    return {**given, "live": live["live"], **drift}, samples


def _release_targets(
    loaded: api.LoadedSpec,
    recommendation: Recommendation,
    state: _release_state.ReleaseState,
    *,
    placeholders: bool,
) -> PlanResult:
    spec = loaded.resolved
    assert state.deployed is not None
    targets = []
    for target, target_rec in api.served(spec, recommendation):
        deployment = lower(spec, target, target_rec, state.deployed)
        deployment = dataclasses.replace(
            deployment, rollout=_rollout.rollout_of(state, deployment.rollout)
        )
        backend = _release_backend(deployment, state, placeholders=placeholders)
        targets.append(api.compile_target(spec.name, target_rec, deployment, backend))
    return PlanResult(spec.name, state.deployed, recommendation, tuple(targets))


def _release_backend(
    deployment: DeploymentPlan,
    state: _release_state.ReleaseState,
    *,
    placeholders: bool,
    build_dir: str | None = None,
) -> Backend:
    """The cloud's backend, with its build folder and what its release hook adds (AWS: Lambda numbers)."""
    hooks = cloud(deployment.cloud).release
    options = (
        {}
        if hooks is None
        else hooks.options(deployment, state.lambda_versions, placeholders=placeholders)
    )
    if build_dir is not None:
        options["build_dir"] = build_dir
    return get_backend(deployment.cloud, **options)
