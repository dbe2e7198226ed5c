"""``svai.api``: the library entry points; each CLI command calls exactly one of these.

The release commands (``svai versions``, ``promote``, ``rollback``, and ``apply``'s release
step) are in :mod:`svai.release`, one layer above, which compiles each step with these.

Library users call the same functions::

    from svai import api
    spec = api.validate("svai.yaml")
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from svai.backends import automation
from svai.backends.base import Backend
from svai.backends.registry import ASYNC_WORKERS, OFFERINGS, get_backend
from svai.backends.rules import evaluate
from svai.build import bench as _bench
from svai.build import environment as _environment
from svai.build import evaluate as _evaluate
from svai.build import package as _package
from svai.build import token_bench as _token_bench
from svai.compiler import drift as _drift
from svai.compiler import metrics as _metrics
from svai.compiler import rollout as _rollout
from svai.compiler.bill import plan_cost
from svai.compiler.diff import EMPTY_PLAN, PlanDiff, diff_plans
from svai.compiler.fetching import fetch_findings
from svai.compiler.lower import lower
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.planned import to_dict as _plan_dict
from svai.compiler.readiness import check as _readiness
from svai.compiler.readiness import to_dict as _readiness_dict
from svai.compiler.recommend import Measurements
from svai.compiler.recommend import recommend as _recommend
from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.compiler.streaming import streaming_findings
from svai.compiler.tracing import tracing_findings
from svai.compiler.version import measurement_key, model_version
from svai.errors import SpecError, UsageError
from svai.ir import DeploymentPlan, RecordedResource
from svai.spec import ResolvedSpec, Spec, load_spec, resolve
from svai.spec.engines import EngineProblem, gpu_engine
from svai.spec.paths import project_file, project_path
from svai.spec.resolve import ResolvedTarget
from svai.spec.revision import Repository
from svai.spec.sides import find_sides
from svai.spec.trace import with_trace

# Pulumi (imported by the offline preview, and by the Automation API façade only when it runs)
# costs a few hundred milliseconds; `svai validate` and `svai recommend` never need it, so it
# loads on first use.


def _record(
    program: Callable[[], None], *, project: str, stack: str
) -> tuple[RecordedResource, ...]:
    from svai.backends.preview import record

    return record(program, project=project, stack=stack)


__all__ = [
    "Comparison",
    "EvalResult",
    "LoadedSpec",
    "bench",
    "build",
    "check_targets",
    "compile_target",
    "deploy",
    "diff",
    "measurements",
    "plan",
    "recommend",
    "run_eval",
    "serve",
    "served",
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
    if isinstance(engine := gpu_engine(spec), EngineProblem):
        raise UsageError(str(engine))  # a GPU target never gets a CPU-only package
    version = model_version(spec, loaded.base_dir)
    targets = []
    for target, target_rec in served(spec, recommendation):
        deployment = lower(spec, target, target_rec, version)
        backend = _plan_backend(target.cloud, spec.name, version, target.region)
        planned = compile_target(spec.name, target_rec, deployment, backend)
        # The path buffers what the model streams; a function cannot fetch weights at start,
        # and keeps EMF lines instead of OTLP traces.
        extra = streaming_findings(spec, target_rec) + fetch_findings(spec, target_rec)
        extra += tracing_findings(spec, target_rec)
        targets.append(dataclasses.replace(planned, findings=planned.findings + extra))
    return loaded, PlanResult(spec.name, version, recommendation, tuple(targets))


def compile_target(
    name: str, recommendation: TargetRecommendation, deployment: DeploymentPlan, backend: Backend
) -> PlannedTarget:
    """Run ``backend``'s program for ``deployment`` under mocks and check its rules.

    Every target :func:`plan` compiles goes through here, and so does every release step
    (:mod:`svai.release`), with the backend that knows the release.
    """
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
    command line) takes both sides as revisions without looking at the work tree
    (:mod:`svai.spec.sides` resolves the sides). At a revision the spec's folder is written out
    from git objects (:mod:`svai.spec.revision`) and planned offline there; the spec is ``spec``
    (a work-tree path) or, when both sides are revisions and none is named, the one spec whose
    project the change touches. A spec missing at one revision is an empty plan; missing at
    both, it is refused. Readiness findings are compared for specs and revisions; plan JSON
    files carry none.

    Raises:
        UsageError: an ambiguous or unknown side, no spec to compare, a file that is not a plan.
        SpecError: a side's spec is invalid (located at ``REV:path`` for a revision).
    """
    sides = find_sides(base, head, spec=spec, revisions=revisions)
    with tempfile.TemporaryDirectory(prefix="svai-diff-") as tmp:
        plans = []
        for ref, commit, name in zip((base, head), sides.commits, ("base", "head"), strict=True):
            if commit is None:
                plans.append(_plan_file(ref))
            elif not sides.present[commit]:
                plans.append(dict(EMPTY_PLAN))
            else:
                assert sides.repo is not None and sides.path is not None
                plans.append(_plan_at(sides.repo, commit, ref, sides.path, Path(tmp) / name))
    return Comparison(diff_plans(*plans), sides.found)


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
    automation.check_pulumi()  # before any work: the most common reason this cannot run
    loaded, result = planned if planned is not None else plan(path)
    run = automation.preview if operation == "preview" else automation.destroy
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
    token_requests: int = 20,
    target: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> _bench.BenchResult:
    """Measure the built artifact of the spec at ``path`` and save the figures (``svai bench``).

    Payloads: the JSON file ``payload`` (one request body, or a list of them), else the
    request payloads of the spec's eval set. A text-generation model also streams
    ``token_requests`` chat completions from its server for its token timings. The result is
    written to ``.svai/measurements.json`` beside the spec, where :func:`measurements` picks it
    up.

    Raises:
        svai.errors.UsageError: no payload to send, a payload file that is not JSON, a request
            that fails.
    """
    loaded = validate(path)
    payloads = _bench_payloads(loaded, payload)
    folder = _spec_built_dir(loaded, target=target, progress=progress)
    config = json.loads((folder / "svai_runtime.json").read_text(encoding="utf-8"))
    tokens = _token_bench.token_load(loaded.resolved, config, token_requests)
    result = _bench.bench(folder, payloads, requests, tokens, progress)
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
    path: str | Path | LoadedSpec,
    *,
    target: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Run the spec's eval set and compute its metrics (``svai eval``); save them as evidence.

    ``path`` is the spec, or a spec already validated (``svai promote`` has one in hand, and
    validates it once). Locally the built artifact of ``target`` (built first when missing)
    serves the eval set with the runtime that ships; with ``endpoint`` a deployed URL does. The
    result is saved in ``.svai/eval.json`` beside the spec, where ``svai promote`` reads it while
    the model version still matches.

    Raises:
        svai.errors.UsageError: no eval set in the spec, an eval line the model did not answer
            with 200, a response without the gate's ``prediction`` or ``score`` path.
    """
    loaded = path if isinstance(path, LoadedSpec) else validate(path)
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
        generation = spec.model.task == "text-generation"
        answers = _evaluate.ask_endpoint(
            endpoint, payloads, headers, progress, generation=generation
        )
        source = endpoint
        version = answers.model_versions[0] if len(answers.model_versions) == 1 else version
    else:
        if (refusal := _evaluate.local_refusal(spec)) is not None:
            raise UsageError(refusal)
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


def drift(
    path: str | Path,
    *,
    sample: str | Path | None = None,
    window_s: int | None = None,
    version: str | None = None,
) -> tuple[str | None, _drift.DriftReport]:
    """Compare a local ``sample`` file, or the live summaries of ``version``, with the baseline.

    Live summaries are the runtime's ``drift`` lines of every served target over the last
    ``window_s`` seconds, for ``version`` (default: the spec's current model version).

    Returns:
        The model version judged (``None`` for a sample file) and the report.

    Raises:
        SpecError: the spec is invalid.
        UsageError: drift is not configured, or the baseline or sample is unreadable.
        svai.errors.ToolMissingError: a live target's cloud has no credentials.
    """
    loaded = validate(path)
    spec = loaded.resolved
    if not spec.observability.drift.compared:
        raise UsageError(
            "observability.drift: nothing to compare; declare `features` (or `prediction`) and "
            "a `baseline` (or `rollout.gates.eval_set`)"
        )
    baseline = _drift.read_baseline(spec, loaded.base_dir)
    if sample is not None:
        read = _drift.read_sample(Path(sample), spec.observability.drift, "--sample")
        return None, _drift.compare(spec, baseline, sample=read, source=str(sample))
    from svai.signals import window_ending
    from svai.signals.drift import live_drift

    loaded, recommendation = recommend(path)
    judged = version or model_version(spec, loaded.base_dir)
    targets = [(t.cloud, t.region) for _, t in served(spec, recommendation)]
    window = window_ending(window_s or 3600)
    return judged, live_drift(spec, loaded.base_dir, targets, judged, window)
