"""``svai.api``: the library entry points; each CLI command calls exactly one of these.

Library users call the same functions::

    from svai import api
    spec = api.validate("svai.yaml")
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from svai.backends.base import Backend
from svai.backends.registry import ASYNC_WORKERS, OFFERINGS, get_backend
from svai.backends.rules import evaluate
from svai.build import bench as _bench
from svai.build import environment as _environment
from svai.build import evaluate as _evaluate
from svai.build import package as _package
from svai.compiler import metrics as _metrics
from svai.compiler import release_state as _release_state
from svai.compiler import rollout as _rollout
from svai.compiler.bill import plan_cost
from svai.compiler.diff import EMPTY_PLAN, PlanDiff, diff_plans
from svai.compiler.lower import lower
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.planned import to_dict as _plan_dict
from svai.compiler.readiness import check as _readiness
from svai.compiler.readiness import to_dict as _readiness_dict
from svai.compiler.recommend import Measurements
from svai.compiler.recommend import recommend as _recommend
from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.compiler.version import measurement_key, model_version
from svai.errors import SpecError, ToolMissingError, UsageError
from svai.ir import DeploymentPlan
from svai.spec import ResolvedSpec, Spec, load_spec, resolve
from svai.spec.paths import project_file, project_path
from svai.spec.resolve import ResolvedTarget
from svai.spec.revision import SPEC_NAME, Repository
from svai.spec.trace import with_trace

if TYPE_CHECKING:
    from svai.backends import automation

# Pulumi (imported by the offline preview and the Automation API façade) costs a few hundred
# milliseconds; `svai validate` and `svai recommend` never need it, so it loads on first use.


def _record(program: Callable[[], None], *, project: str, stack: str) -> Any:
    from svai.backends.preview import record

    return record(program, project=project, stack=stack)


def _automation() -> Any:
    from svai.backends import automation

    return automation


__all__ = [
    "Comparison",
    "LoadedSpec",
    "ReleaseOutcome",
    "ReleasePlan",
    "VersionsReport",
    "bench",
    "build",
    "check_targets",
    "deploy",
    "diff",
    "measurements",
    "plan",
    "promote",
    "recommend",
    "release_plan",
    "rollback",
    "serve",
    "served",
    "start_release",
    "validate",
    "versions",
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
    # A measured traffic trace is read here, against the spec's folder (located problems).
    return LoadedSpec(Path(path), spec, with_trace(resolve(spec), Path(path).parent))


def measurements(loaded: LoadedSpec) -> Measurements:
    """Return the figures measured on the real artifact.

    What ``svai bench`` saved in ``.svai/measurements.json`` (load time, latency, memory, built
    model size) when it was measured on the spec's artifact (its measurement key: a change of a
    declared figure such as ``model.memory`` keeps them); otherwise what can be measured without
    running the model: the local artifact's size.

    Raises:
        svai.errors.SpecError: the measurements file is not valid (located problems).
    """
    saved = project_path(loaded.base_dir, _bench.MEASUREMENTS_FILE, "measurements")
    if saved.is_file():
        version: str | None
        key: str | None
        try:
            version = model_version(loaded.resolved, loaded.base_dir)
            key = measurement_key(loaded.resolved, loaded.base_dir)
        except UsageError:
            version = key = None  # a missing hook file: `svai plan` reports it; no stale figures
        measured = _bench.read_measurements(saved, key, version) if key and version else None
        if measured is not None:
            return measured
    model = loaded.resolved.model
    if model.artifact_scheme == "local":
        artifact = project_path(loaded.base_dir, model.artifact, "model.artifact")
        if artifact.is_file():
            return Measurements(artifact_bytes=artifact.stat().st_size)
    return Measurements()


def recommend(path: str | Path) -> tuple[LoadedSpec, Recommendation]:
    """Validate the spec at ``path`` and recommend a runtime for each of its targets."""
    loaded = validate(path)
    recommendation = _recommend(
        loaded.resolved, measurements(loaded), buildable=OFFERINGS, async_workers=ASYNC_WORKERS
    )
    return loaded, recommendation


def served(
    spec: ResolvedSpec, recommendation: Recommendation
) -> list[tuple[ResolvedTarget, TargetRecommendation]]:
    """Pair each target svai can serve with its recommendation, in the spec's order.

    Targets the recommendation names infeasible are left out: commands report them and exit 1.
    """
    refused = {t.index for t in recommendation.infeasible}
    kept = [t for i, t in enumerate(spec.targets) if i not in refused]
    return list(zip(kept, recommendation.targets, strict=True))


def check_targets(
    spec: ResolvedSpec, recommendation: Recommendation, wanted: Sequence[str] | None
) -> None:
    """Refuse to deploy around an infeasible target unless ``wanted`` names the servable ones.

    One Pulumi stack holds every target of a spec, so a deployment that left a servable
    target out would delete it: ``wanted`` must name exactly the targets svai can serve.

    Raises:
        UsageError: a target cannot be served and ``wanted`` does not name the others, or
            ``wanted`` is not exactly the servable targets.
    """
    keys = [_package.target_key(t.cloud, t.region) for t, _ in served(spec, recommendation)]
    flags = " ".join(f"--target {k}" for k in keys)
    if wanted is None or not wanted:
        if not recommendation.infeasible:
            return
        names = "; ".join(
            f"{_package.target_key(t.cloud, t.region)}: {t.reasons[0] if t.reasons else '?'}"
            for t in recommendation.infeasible
        )
        raise UsageError(
            f"{len(recommendation.infeasible)} target(s) cannot be served ({names}; "
            "`svai recommend` lists every reason); to deploy the others, name them: "
            f"{flags or '(none can be served)'}"
        )
    if sorted(set(wanted)) != sorted(keys):
        raise UsageError(
            f"--target must name every target svai can serve, and only those ({flags}): one "
            "Pulumi stack holds them all, and a target left out would be deleted"
        )


def plan(path: str | Path) -> tuple[LoadedSpec, PlanResult]:
    """Compile every target of the spec at ``path`` offline: recommendation, plan, resources.

    The backend programs run under Pulumi mocks (no CLI, no credentials, no network); only the
    SDKs of the clouds the spec targets are imported.
    """
    loaded, recommendation = recommend(path)
    spec = loaded.resolved
    version = model_version(spec, loaded.base_dir)
    targets = []
    for target, target_rec in served(spec, recommendation):
        deployment = lower(spec, target, target_rec, version)
        backend = _plan_backend(target.cloud, spec.name, version, target.region)
        targets.append(_compile_target(spec.name, target_rec, deployment, backend))
    return loaded, PlanResult(spec.name, version, recommendation, tuple(targets))


def _compile_target(
    name: str, recommendation: TargetRecommendation, deployment: DeploymentPlan, backend: Backend
) -> PlannedTarget:
    """Run ``backend``'s program for ``deployment`` under mocks and check its rules."""
    resources = _record(
        functools.partial(backend.program, deployment),
        project=name,
        stack=f"{deployment.cloud}-{deployment.region}",
    )
    findings = evaluate(backend.rules(), resources, deployment)
    cost = plan_cost(deployment, recommendation)
    return PlannedTarget(recommendation, deployment, resources, tuple(findings), cost)


def _plan_backend(cloud: str, name: str, version: str, region: str) -> Backend:
    """The backend that plans ``cloud``, naming the files ``svai build`` writes for it."""
    folder = _package.target_dir(Path(".svai/build"), name, version, f"{cloud}-{region}")
    return _backend_with_build(cloud, folder.as_posix())


def _backend_with_build(cloud: str, build_dir: str) -> Backend:
    """The backend of ``cloud`` reading (and on apply uploading) a target's build folder."""
    return get_backend(cloud, build_dir=build_dir)


# ---- `svai diff`: two plans, from specs, plan JSON files or git revisions ----------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """What :func:`diff` found, and which spec it compared when it had to find that itself."""

    diff: PlanDiff
    found: str | None = None
    """The repository path of the spec compared at both revisions, when none was named."""


def diff(
    base: str, head: str, *, spec: str | Path | None = None, revisions: bool = False
) -> Comparison:
    """Compare two plans (``svai diff BASE HEAD``); each side is a spec, plan JSON or revision.

    A side is a file when one of that name exists and a git revision when git knows it; a name
    that is both is refused as ambiguous, as git refuses it. ``revisions`` (``--`` on the
    command line) takes both sides as revisions without looking at the work tree. At a revision
    the spec's folder is written out from git objects (:mod:`svai.spec.revision`) and planned
    offline there; the spec is ``spec`` (a work-tree path) or, when both sides are revisions
    and none is named, the one spec whose project the change touches. A spec missing at one
    revision is an empty plan; missing at both, it is refused. Readiness findings are compared
    for specs and revisions; plan JSON files carry none.

    Raises:
        UsageError: an ambiguous or unknown side, no spec to compare, a file that is not a plan.
        SpecError: a side's spec is invalid (located at ``REV:path`` for a revision).
    """
    repo = Repository.find(Path(spec).absolute().parent if spec else Path.cwd())
    commits = [_side_commit(ref, repo, revisions, (base, head)) for ref in (base, head)]
    found = path = None
    present: dict[str, bool] = {}
    if repo is not None and any(commits):
        if spec is not None:
            path = repo.relative(spec)
        elif all(commits):
            path = found = _changed_spec(repo, base, head, commits)
        else:
            path = repo.relative(SPEC_NAME)
        named = zip(commits, (base, head), strict=True)
        present = {c: repo.spec_entry(c, path, r) for c, r in named if c}
        if not any(present.values()) and all(commits):
            raise UsageError(f"{path} exists at neither {base} nor {head}: nothing to compare")
    with tempfile.TemporaryDirectory(prefix="svai-diff-") as tmp:
        sides = []
        for ref, commit, name in zip((base, head), commits, ("base", "head"), strict=True):
            if commit is None:
                sides.append(_plan_file(ref))
            elif not present[commit]:
                sides.append(dict(EMPTY_PLAN))
            else:
                assert repo is not None and path is not None
                sides.append(_plan_at(repo, commit, ref, path, Path(tmp) / name))
    return Comparison(diff_plans(*sides), found)


def _side_commit(
    ref: str, repo: Repository | None, revisions: bool, both: tuple[str, str]
) -> str | None:
    """The commit a diff side names, or ``None`` when it names a file."""
    if repo is None and (revisions or not os.path.lexists(ref)) and shutil.which("git") is None:
        raise ToolMissingError(f"{ref!r} is not a file, and comparing git revisions needs git")
    commit = repo.commit(ref) if repo is not None else None
    where = f" of the git repository at {repo.top}" if repo else " (not in a git repository)"
    if revisions:
        if commit is None:
            raise UsageError(f"{ref!r} is not a git revision{where}")
        return commit
    if os.path.lexists(ref):
        if commit is not None:
            link = f" (a symbolic link to {os.readlink(ref)})" if os.path.islink(ref) else ""
            raise UsageError(
                f"{ref!r} is ambiguous: both a git revision and a file in the work tree{link}. "
                f"To compare the revisions as committed, put `--` after them: "
                f"`svai diff {both[0]} {both[1]} -- [SPEC]`; to compare the file, write ./{ref}"
            )
        if not Path(ref).is_file():
            raise UsageError(f"{ref}: not a file")
        return None
    if commit is None:
        raise UsageError(f"{ref!r} is neither a file nor a git revision{where}")
    return commit


def _changed_spec(repo: Repository, base: str, head: str, commits: list[str | None]) -> str:
    """The one spec whose project changed between two commits, or a refusal that lists them."""
    every, touched = repo.touched_specs(*(c for c in commits if c))
    if len(touched) == 1:
        return touched[0]
    if not touched and len(every) == 1:
        return every[0]  # an unchanged project still gets a real comparison, not a guess

    def named(paths: list[str]) -> str:
        return ", ".join(os.path.relpath(repo.top / p) for p in paths)

    usage = f"svai diff {base} {head} -f"
    if not every:
        raise UsageError(
            f"no {SPEC_NAME} at {base} nor at {head} in {repo.top}; name the spec: {usage} PATH"
        )
    if touched:
        raise UsageError(
            f"{len(touched)} specs changed between {base} and {head} ({named(touched)}); "
            f"compare one at a time: {usage} {named(touched[:1])}"
        )
    raise UsageError(
        f"none of the {len(every)} specs changed between {base} and {head} ({named(every)}); "
        f"to compare one anyway: {usage} {named(every[:1])}"
    )


def _plan_file(ref: str) -> dict[str, Any]:
    """The plan document of a file side: plan JSON as saved, or a spec planned now."""
    path = Path(ref)
    if path.suffix != ".json":
        return _plan_document(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{ref}: not a plan JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise UsageError(f"{ref}: not the JSON of `svai plan --format json`")
    return data


def _plan_at(repo: Repository, commit: str, rev: str, path: str, workdir: Path) -> dict[str, Any]:
    """Plan the spec ``path`` as committed at ``commit`` (named ``rev`` in messages)."""
    folder = PurePosixPath(path).parent.as_posix()
    repo.extract(commit, folder, workdir)
    try:
        return _plan_document(workdir / PurePosixPath(path).name)
    except SpecError as exc:  # located at REV:path, not in the temporary folder
        located = [dataclasses.replace(d, file=f"{rev}:{path}") for d in exc.diagnostics]
        raise SpecError(located) from None
    except UsageError as exc:
        shown = str(exc).replace(str(workdir.resolve()), f"{rev}:{folder}")
        raise UsageError(shown.replace(str(workdir), f"{rev}:{folder}")) from None


def _plan_document(path: Path) -> dict[str, Any]:
    """Plan the spec at ``path``: the plan JSON plus its readiness findings (``readiness``)."""
    loaded, result = plan(path)
    document = _plan_dict(result)
    report = _readiness_dict(_readiness(loaded.resolved, result))
    document["readiness"] = [f for f in report["findings"] if f["rule"].startswith("SVAI_READY_")]
    return document


def deploy(
    path: str | Path,
    operation: Literal["preview", "destroy"],
    *,
    environment: str = "dev",
    backend_url: str | None = None,
    planned: tuple[LoadedSpec, PlanResult] | None = None,
) -> tuple[PlanResult, automation.Result]:
    """Run a real ``pulumi preview`` or ``destroy`` of every target of the spec.

    Deploying goes through :func:`start_release` (``svai apply``), which knows the release in
    progress. State lives in ``.svai/state`` beside the spec unless ``backend_url`` names
    another Pulumi backend. ``planned`` is what :func:`plan` returned for ``path`` when the
    caller has it already (``svai plan --preview``), so the spec is not compiled twice.

    Raises:
        svai.errors.ToolMissingError: the pulumi CLI, the passphrase or credentials are missing.
        svai.errors.DeployError: Pulumi or the cloud refused the operation.
    """
    driver = _automation()
    driver.check_pulumi()  # before any work: the most common reason this cannot run
    loaded, result = planned if planned is not None else plan(path)
    run = driver.preview if operation == "preview" else driver.destroy
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
    ``.svai/build`` beside the spec); see :mod:`svai.build.package`.

    Raises:
        svai.errors.UsageError: an unknown target, an unsafe path, an unbuildable model.
    """
    loaded, recommendation = recommend(path)
    for refused in recommendation.infeasible:
        if _package.target_key(refused.cloud, refused.region) == target:
            raise UsageError(f"--target {target!r} cannot be served: {'; '.join(refused.reasons)}")
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
    return _spec_built_dir(validate(given), target=target, progress=progress)


def _spec_built_dir(
    loaded: LoadedSpec,
    *,
    target: str | None,
    progress: Callable[[str], None] | None,
) -> Path:
    """Return the artifact folder of ``loaded``'s target, building it first when missing."""
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
        build(loaded.path, target=key, progress=progress)
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

    ``path`` is a spec (built first if needed) or a build folder. The server runs in the
    artifact's own environment, made from its ``requirements.txt`` (cached), with only the
    artifact on the path: a hook that needs an undeclared package fails here as it would
    deployed.
    """
    folder = _built_dir(path, target=target, progress=progress)
    python = _environment.runtime_python(folder, progress)
    return _bench.serve(folder, host, port, python)


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
    folder = _spec_built_dir(loaded, target=target, progress=progress)
    result = _bench.bench(folder, payloads, requests)
    key = measurement_key(loaded.resolved, loaded.base_dir)
    _bench.write_measurements(loaded.base_dir / _bench.MEASUREMENTS_FILE, result, key)
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


# ---- `svai eval` --------------------------------------------------------------------------------

EVAL_FILE = ".svai/eval.json"
"""Where ``svai eval`` keeps its evidence, beside the spec (keyed by model version)."""


@dataclass(frozen=True, slots=True)
class EvalResult:
    """The metrics of one eval run, as evidence for the release gates.

    Attributes:
        model_version: the version that answered (the spec's, for a local artifact).
        source: ``artifact:<target>`` or the ``--endpoint`` URL.
        eval_set: the eval set (relative to the spec).
        metric: the gate's metric; ``metrics`` holds it and its family.
        metrics: metric -> value.
        samples: eval lines scored.
        min_samples: fewer lines hold a release.
        fallbacks: answers the fallback gave instead of the model.
        p95_s: the 95th percentile of the client-side latency.
        gate: the gate's verdict on this evidence.
    """

    model_version: str
    source: str
    eval_set: str
    metric: str
    metrics: dict[str, float]
    samples: int
    min_samples: int
    fallbacks: int
    p95_s: float
    gate: _rollout.GateResult | None


def run_eval(
    path: str | Path,
    *,
    target: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Run the spec's eval set and compute its metrics (``svai eval``); save them as evidence.

    Locally the built artifact of ``target`` (built first when missing) serves the eval set
    with the runtime that ships; with ``endpoint`` a deployed URL does. The result is saved in
    ``.svai/eval.json`` beside the spec, where ``svai promote`` reads it while the model version
    still matches.

    Raises:
        svai.errors.UsageError: no eval set in the spec, an eval line the model did not answer
            with 200, a response without the gate's ``prediction`` or ``score`` path.
    """
    return _run_eval(
        validate(path), target=target, endpoint=endpoint, headers=headers, progress=progress
    )


def _run_eval(
    loaded: LoadedSpec,
    *,
    target: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """:func:`run_eval` on a spec already validated (``svai promote`` has one in hand)."""
    spec = loaded.resolved
    gates = spec.rollout.gates
    if gates is None:
        raise UsageError(
            "svai eval needs rollout.gates in the spec: eval_set (JSON Lines of "
            '{"input": <request body>, "expected": <answer>}) and the metric to compute'
        )
    cases = _package.read_eval_set(spec, loaded.base_dir)
    missing = [n for n, case in enumerate(cases, 1) if case.label is None]
    if not cases or missing:
        where = f"line {missing[0]} has" if missing else "it has no lines with"
        raise UsageError(f"rollout.gates.eval_set: {gates.eval_set}: {where} no `expected` answer")
    payloads = [case.payload for case in cases]
    version = model_version(spec, loaded.base_dir)
    if endpoint is not None:
        answers = _evaluate.ask_endpoint(endpoint, payloads, headers, progress)
        source = endpoint
        version = answers.model_versions[0] if len(answers.model_versions) == 1 else version
    else:
        folder = _spec_built_dir(loaded, target=target, progress=progress)
        answers = _evaluate.ask_artifact(folder, payloads, progress)
        source = f"artifact:{folder.name}"
    scorer = _load_scorer(loaded) if gates.metric == "scorer" else None
    scored = _metrics.score_answers(gates, answers.outputs, [c.label for c in cases], scorer)
    latencies = sorted(answers.latencies_s)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    evidence = {
        "model_version": version,
        "metrics": scored.metrics,
        "samples": scored.samples,
    }
    verdicts = _rollout.evaluate_gates(spec, version, evidence, live=False)
    gate = next((g for g in verdicts if g.name in ("samples", gates.metric) and not g.passed),
                next((g for g in verdicts if g.name == gates.metric), None))  # fmt: skip
    result = EvalResult(
        model_version=version,
        source=source,
        eval_set=gates.eval_set,
        metric=gates.metric,
        metrics=scored.metrics,
        samples=scored.samples,
        min_samples=gates.min_samples,
        fallbacks=answers.fallbacks,
        p95_s=p95,
        gate=gate,
    )
    _write_eval(loaded, result)
    return result


def _load_scorer(loaded: LoadedSpec) -> Callable[[Any, Any], float]:
    """Import the gate's ``scorer`` hook from the project (it is the user's evaluation code)."""
    import importlib.util

    gates = loaded.resolved.rollout.gates
    assert gates is not None and gates.scorer is not None
    file, _, name = gates.scorer.partition(":")
    source = project_file(loaded.base_dir, file, "rollout.gates.scorer")
    module_spec = importlib.util.spec_from_file_location("svai_eval_scorer", source)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"rollout.gates.scorer: cannot import {file}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    function = getattr(module, name, None)
    if not callable(function):
        raise UsageError(f"rollout.gates.scorer: {file} has no function {name!r}")
    return function  # type: ignore[no-any-return]


def _write_eval(loaded: LoadedSpec, result: EvalResult) -> None:
    path = project_path(loaded.base_dir, EVAL_FILE, "eval evidence")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "model_version": result.model_version,
        "source": result.source,
        "eval_set": result.eval_set,
        "metrics": result.metrics,
        "samples": result.samples,
        "fallbacks": result.fallbacks,
        "p95_s": result.p95_s,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _eval_evidence(loaded: LoadedSpec, candidate: str) -> dict[str, Any]:
    """The offline metrics of ``candidate``: saved by ``svai eval``, or computed now.

    Computed only when ``candidate`` is the spec's own version (its artifact can be built here);
    for another version nothing is known, and the gate says the metric is missing.
    """
    saved = project_path(loaded.base_dir, EVAL_FILE, "eval evidence")
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
        result = _run_eval(loaded)
    except UsageError as exc:
        return {"metrics_error": f"svai eval failed: {exc}"}
    return {"metrics": result.metrics, "samples": result.samples}


# ---- releases: `svai versions`, `svai promote`, `svai rollback` --------------------------------


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


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    """What a release command did: its plan, and the Pulumi result when it deployed."""

    plan: ReleasePlan
    deployed: automation.Result | None
    state_written: bool


def release_plan(
    path: str | Path,
    action: Literal["apply", "promote", "rollback"],
    *,
    environment: str = "dev",
    to_end: bool = False,
    to: str | None = None,
    evidence: str | Path | None = None,
    placeholders: bool = True,
    compile_targets: bool = True,
    targets: Sequence[str] | None = None,
) -> ReleasePlan:
    """Compile the next release step offline, without changing anything (the dry run).

    ``apply`` starts releasing the spec's current version (its first stage; the very first
    deployment takes all traffic). ``promote`` checks the gates against ``evidence`` (default:
    ``.svai/measurements.json``, what ``svai bench`` wrote) and moves one stage, or to the end
    with ``to_end``; a failed gate turns it into a rollback. When no release is in progress
    and the spec holds a new version, ``promote`` starts that release (as ``apply`` does).
    ``rollback`` points traffic back at the previous version, or at ``to``.

    Args:
        path: The spec.
        action: What to plan.
        environment: The environment.
        to_end: ``promote --all``.
        to: ``rollback --to VERSION``.
        evidence: The gate evidence file (JSON).
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
    loaded, recommendation = recommend(path)
    spec = loaded.resolved
    if action == "apply":
        check_targets(spec, recommendation, targets)
    version = model_version(spec, loaded.base_dir)
    file = _release_state.state_path(loaded.base_dir, spec.name, environment)
    state = _release_state.read_state(file, spec.name, environment)
    gates: tuple[_rollout.GateResult, ...] = ()
    failed = False
    if action == "rollback":
        transition = _rollout.revert(state, to=to)
    elif action == "promote" and state.status == "in-progress":
        assert state.candidate is not None
        gates = _check_gates(loaded, recommendation, state.candidate, evidence, live=True)
        failed = any(not g.passed and not g.hold for g in gates)
        held = [g for g in gates if g.hold and not g.passed]
        if held and not failed:
            transition = _rollout.Transition(state, state, False, "held: " + _gate_reasons(held))
        elif failed:
            reasons = _gate_reasons([g for g in gates if not g.passed])
            transition = _rollout.revert(state, reason=f"gate failed: {reasons}")
        else:
            transition = _rollout.advance(state, to_end=to_end)
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
                    + _gate_reasons([g for g in gates if not g.passed]),
                )
    after = transition.after
    result = None
    if after.deployed is not None and compile_targets:
        result = _release_targets(loaded, recommendation, after, placeholders=placeholders)
    return ReleasePlan(action, environment, file, version, transition, gates, failed, result)


def _gate_reasons(results: Sequence[_rollout.GateResult]) -> str:
    return "; ".join(f"{g.name} {g.observed} (needs {g.threshold})" for g in results)


def promote(
    path: str | Path,
    *,
    environment: str = "dev",
    to_end: bool = False,
    evidence: str | Path | None = None,
    dry_run: bool = False,
    state_only: bool = False,
    backend_url: str | None = None,
) -> ReleaseOutcome:
    """Move the release one step forward when its gates pass (``svai promote``).

    A failed gate rolls back instead (and the outcome's plan says so). With ``dry_run`` nothing
    changes; with ``state_only`` the release state is written but Pulumi is not run (the plan
    is deployed by other means); otherwise the step is deployed through the Automation API.

    Raises:
        svai.errors.ToolMissingError: the pulumi CLI, passphrase or credentials are missing.
        svai.errors.UsageError: see :func:`release_plan`.
        svai.errors.DeployError: Pulumi or the cloud refused the step.
    """
    return _release(
        path, "promote", environment, dry_run, state_only, backend_url,
        to_end=to_end, evidence=evidence,
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
    the ones that can (:func:`check_targets`).

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
    loaded, recommendation = recommend(path)
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
        _automation().check_pulumi()  # before any work: the most common reason this cannot run
    planned = release_plan(
        path,
        action,
        environment=environment,
        placeholders=dry_run or state_only,
        compile_targets=not state_only,
        **options,
    )
    after = planned.transition.after
    if dry_run or not planned.transition.changed:
        return ReleaseOutcome(planned, None, False)
    deployed = None
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
        folders = {t.target: str(t.directory) for t in build(path, vendor_deps=True).targets}
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
        deployed = _automation().up(
            [t.plan for t in planned.result.targets],
            stack=environment,
            backend_url=backend_url,
            work_dir=Path(path).resolve().parent,  # the spec's folder, as LoadedSpec.base_dir
            backends=backends,
        )
        after = _record_lambda_versions(after, deployed.outputs)
    _release_state.write_state(planned.state_file, after)
    return ReleaseOutcome(planned, deployed, True)


def _record_lambda_versions(
    state: _release_state.ReleaseState, outputs: Any
) -> _release_state.ReleaseState:
    prefix = "aws_lambda_version_"
    numbers = {
        key.removeprefix(prefix): str(value)
        for key, value in dict(outputs).items()
        if key.startswith(prefix) and value != "[secret]"
    }
    if not numbers or state.deployed is None:
        return state
    known = {k: dict(v) for k, v in state.lambda_versions.items()}
    known[state.deployed] = numbers
    return dataclasses.replace(state, lambda_versions=known)


def _read_evidence(loaded: LoadedSpec, evidence: str | Path | None) -> dict[str, Any]:
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


def _check_gates(
    loaded: LoadedSpec,
    recommendation: Recommendation,
    candidate: str,
    evidence: str | Path | None,
    *,
    live: bool,
) -> tuple[_rollout.GateResult, ...]:
    """Check ``candidate`` against the spec's gates, with the evidence file and the prediction.

    An offline metric the evidence lacks is computed (``svai eval`` on the built artifact)
    rather than reported missing.
    """
    costs = [t.predicted.cost_per_1k_usd for t in recommendation.targets]
    given = _read_evidence(loaded, evidence)
    gates = loaded.resolved.rollout.gates
    metrics = given.get("metrics")
    if gates is not None and not (isinstance(metrics, dict) and gates.metric in metrics):
        given = {**given, **_eval_evidence(loaded, candidate)}
    return _rollout.evaluate_gates(
        loaded.resolved,
        candidate,
        given,
        cost_per_1k_usd=max(costs) if costs else None,
        live=live,
    )


def _release_targets(
    loaded: LoadedSpec,
    recommendation: Recommendation,
    state: _release_state.ReleaseState,
    *,
    placeholders: bool,
) -> PlanResult:
    spec = loaded.resolved
    assert state.deployed is not None
    targets = []
    for target, target_rec in served(spec, recommendation):
        deployment = lower(spec, target, target_rec, state.deployed)
        deployment = dataclasses.replace(
            deployment, rollout=_rollout.rollout_of(state, deployment.rollout)
        )
        backend = _release_backend(deployment, state, placeholders=placeholders)
        targets.append(_compile_target(spec.name, target_rec, deployment, backend))
    return PlanResult(spec.name, state.deployed, recommendation, tuple(targets))


def _release_backend(
    deployment: DeploymentPlan,
    state: _release_state.ReleaseState,
    *,
    placeholders: bool,
    build_dir: str | None = None,
) -> Backend:
    """The cloud's backend; AWS learns its build folder and the other version's Lambda number."""
    others = [s.version for s in deployment.rollout.split if s.version != deployment.model_version]
    if deployment.cloud != "aws" or not others:
        if build_dir is None:
            return get_backend(deployment.cloud)
        return _backend_with_build(deployment.cloud, build_dir)
    from svai.backends.aws import AwsBackend

    other = others[0]
    numbers: dict[str, str] = {}
    for service in deployment.services:
        if service.compute.kind != "faas":
            continue
        number = state.lambda_versions.get(other, {}).get(service.name)
        if number is None:
            if not placeholders:
                raise UsageError(
                    f"the Lambda version number of {other} ({service.name}) is unknown: it is "
                    "recorded from the stack outputs when svai deploys that version, and this "
                    "environment has no record of it"
                )
            number = f"<{other}>"
        numbers[service.name] = number
    if build_dir is None:
        return AwsBackend(previous_lambda_versions=numbers)
    return AwsBackend(build_dir=build_dir, previous_lambda_versions=numbers)
