"""`svai check`: every readiness rule fires on a spec that breaks it and stays quiet on one that
keeps it; the report merges the plan's infrastructure findings; `--fail-on` gates CI.

Rule cases compile real plans (recommendation → lowering → model version) without recording
the Pulumi resources, which no readiness rule reads; the CLI tests run the whole `svai check`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from svai import api
from svai.cli.main import cli
from svai.compiler.checklist import RULES
from svai.compiler.lower import lower
from svai.compiler.planned import PlannedTarget, PlanResult
from svai.compiler.readiness import CheckFinding, CheckReport, check, fails, report_text
from svai.compiler.version import model_version
from svai.spec import ResolvedSpec
from tests.review.helpers import write_project

GOOD_SYNC = """\
version: 1
name: scorer
model:
  artifact: model/model.onnx
  framework: onnx
  size: 2MB
  memory: 256MiB
  load_time: 150ms
  inference_time: 2ms
  preprocess: src/pre.py:prepare
api: {mode: sync, auth: iam, timeout: 2s}
latency: {p95: 100ms, p99: 250ms}
traffic: {pattern: steady, baseline_rps: 5}
reliability:
  retries: 2
  backoff: {base: 50ms, max: 1s, jitter: full}
  max_concurrency: 50
rollout:
  strategy: canary
  steps: [10, 50, 100]
  rollback_on: {p99: 400ms, error_rate: 0.01}
security:
  network: {egress: private-only}
observability:
  alarms: {cold_start_rate: 0.02}
  budget_usd_month: 200
  alert_email: oncall@example.com
  drift: {enabled: true, sample_rate: 0.01}
  log_retention: 30d
targets:
  - {cloud: aws, region: us-east-1}
"""
"""Keeps every readiness rule."""

GOOD_ASYNC = (
    GOOD_SYNC.replace("mode: sync, auth: iam, timeout: 2s", "mode: async, auth: iam, timeout: 60s")
    .replace("p95: 100ms, p99: 250ms", "p95: 10m, p99: 30m")
    .replace("inference_time: 2ms", "inference_time: 20s")
    .replace("baseline_rps: 5", "baseline_rps: 0.5")
    .replace("budget_usd_month: 200", "budget_usd_month: 5000")
    .replace("  max_concurrency: 50\n", "  max_concurrency: 50\n  job_timeout: 5m\n")
)
"""Keeps every readiness rule, with a queue."""

COLD = (
    GOOD_SYNC.replace("load_time: 150ms", "load_time: 5s")
    .replace("baseline_rps: 5", "baseline_rps: 0.002")
    # Cloud Run functions cannot split traffic between revisions (svai refuses canary there).
    .replace("strategy: canary\n  steps: [10, 50, 100]", "strategy: all-at-once")
)
"""A request every ~8 minutes on a function that loads for 5 s: cold starts dominate the tail."""
COLD_TARGET = (
    "- {cloud: gcp, region: us-central1, project: acme-test, runtime: faas, "
    "overrides: {min_instances: %d}}"
)


def _sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


# rule id → (spec that keeps it, spec that breaks it)
CASES: dict[str, tuple[str, str]] = {
    "SVAI_READY_001": (
        GOOD_ASYNC,
        _sub(GOOD_ASYNC, "mode: async", "mode: sync"),  # 20 s inside the request
    ),
    "SVAI_READY_002": (
        _sub(COLD, "- {cloud: aws, region: us-east-1}", COLD_TARGET % 1),
        _sub(COLD, "- {cloud: aws, region: us-east-1}", COLD_TARGET % 0),
    ),
    "SVAI_READY_003": (GOOD_SYNC, _sub(GOOD_SYNC, "  max_concurrency: 50\n", "")),
    "SVAI_READY_004": (
        GOOD_ASYNC,
        _sub(GOOD_ASYNC, "  max_concurrency: 50\n", "  max_concurrency: 50\n  dlq: false\n"),
    ),
    "SVAI_READY_005": (
        GOOD_ASYNC,
        _sub(
            GOOD_ASYNC, "  max_concurrency: 50\n", "  max_concurrency: 50\n  max_receive_count: 2\n"
        ),
    ),
    "SVAI_READY_006": (
        GOOD_ASYNC,
        _sub(
            GOOD_ASYNC,
            "  max_concurrency: 50\n",
            "  max_concurrency: 50\n  idempotency: {ttl: 1m}\n",
        ),
    ),
    "SVAI_READY_007": (GOOD_SYNC, _sub(GOOD_SYNC, "alarms: {cold_start_rate: 0.02}", "alarms: {}")),
    "SVAI_READY_008": (
        GOOD_SYNC,
        _sub(GOOD_SYNC, "drift: {enabled: true, sample_rate: 0.01}", "drift: {enabled: false}"),
    ),
    "SVAI_READY_009": (
        _sub(
            GOOD_SYNC,
            "artifact: model/model.onnx",
            "artifact: s3://acme-models/m.onnx?versionId=3HL4kqtJ",
        ),
        # The spec refuses an unpinned artifact; what check still sees is an opted-in moving one.
        _sub(
            GOOD_SYNC,
            "artifact: model/model.onnx\n  framework: onnx",
            "artifact: hf://org/model@main\n  allow_moving_revision: true\n  framework: onnx",
        ),
    ),
    "SVAI_READY_010": (
        GOOD_SYNC,
        _sub(GOOD_SYNC, "strategy: canary\n  steps: [10, 50, 100]", "strategy: all-at-once"),
    ),
    "SVAI_READY_011": (
        GOOD_SYNC,
        _sub(GOOD_SYNC, "  rollback_on: {p99: 400ms, error_rate: 0.01}\n", ""),
    ),
    "SVAI_READY_012": (GOOD_SYNC, _sub(GOOD_SYNC, "auth: iam", "auth: none")),
    "SVAI_READY_013": (
        GOOD_SYNC,
        _sub(GOOD_SYNC, "network: {egress: private-only}", "network: {egress: all}"),
    ),
    "SVAI_READY_014": (GOOD_SYNC, _sub(GOOD_SYNC, "log_retention: 30d", "log_retention: 7d")),
    "SVAI_READY_015": (
        GOOD_SYNC,
        _sub(GOOD_SYNC, "  alert_email: oncall@example.com\n", ""),
    ),
    "SVAI_READY_016": (
        GOOD_SYNC,
        _sub(GOOD_SYNC, "budget_usd_month: 200", "budget_usd_month: 1"),
    ),
    # A LightGBM file declared as XGBoost, in a bucket: the loader cannot open it, check can tell.
    "SVAI_READY_017": (
        GOOD_SYNC,
        _sub(
            GOOD_SYNC,
            "artifact: model/model.onnx\n  framework: onnx",
            "artifact: s3://models-bucket/scorer/model.txt?versionId=3\n  framework: xgboost",
        ),
    ),
}


def fast_plan(path: Path) -> tuple[ResolvedSpec, PlanResult]:
    """The real plan minus the recorded Pulumi resources (which readiness rules do not read)."""
    loaded, rec = api.recommend(path)
    spec = loaded.resolved
    version = model_version(spec, loaded.base_dir)
    targets = tuple(
        PlannedTarget(r, lower(spec, t, r, version), (), ())
        for t, r in zip(spec.targets, rec.targets, strict=True)
    )
    return spec, PlanResult(spec.name, version, rec, targets)


def readiness(tmp_path: Path, text: str) -> CheckReport:
    return check(*fast_plan(write_project(tmp_path, text)))


def test_every_rule_has_a_case() -> None:
    ids = [r.info.id for r in RULES]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert set(CASES) == set(ids)


@pytest.mark.parametrize("good", [GOOD_SYNC, GOOD_ASYNC], ids=["sync", "async"])
def test_good_specs_pass_every_readiness_rule(good: str, tmp_path: Path) -> None:
    report = readiness(tmp_path, good)
    assert report.findings == (), report_text(report)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_only_when_broken(rule: str, tmp_path: Path) -> None:
    good, bad = CASES[rule]
    kept = readiness(tmp_path / "good", good)
    broken = readiness(tmp_path / "bad", bad)
    assert rule not in {f.rule for f in kept.findings}, report_text(kept)
    fired = [f for f in broken.findings if f.rule == rule]
    assert fired, report_text(broken)
    info = next(r.info for r in RULES if r.info.id == rule)
    for f in fired:
        assert f.severity == info.severity and f.hint == info.hint and f.message
        assert f.path is None or f.path.split(".")[0] in {
            "api",
            "latency",
            "reliability",
            "observability",
            "model",
            "rollout",
            "security",
        }


def test_unpinned_remote_artifacts(tmp_path: Path) -> None:
    hf_tag = _sub(
        GOOD_SYNC,
        "artifact: model/model.onnx\n  framework: onnx",
        "artifact: hf://org/model@main\n  allow_moving_revision: true\n  framework: transformers",
    )
    hf_sha = hf_tag.replace("@main", "@" + "a" * 40)
    assert "SVAI_READY_009" in {f.rule for f in readiness(tmp_path / "tag", hf_tag).findings}
    assert "SVAI_READY_009" not in {f.rule for f in readiness(tmp_path / "sha", hf_sha).findings}


def test_unservable_remote_artifact_says_what_would_work(tmp_path: Path) -> None:
    report = readiness(tmp_path, CASES["SVAI_READY_017"][1])
    (finding,) = [f for f in report.findings if f.rule == "SVAI_READY_017"]
    assert finding.path == "model.artifact"
    assert finding.message == (
        "model.artifact: model.txt is lightgbm's file format, but `framework` says xgboost; "
        "set `framework: lightgbm`"
    )


def test_cold_start_finding_carries_the_numbers(tmp_path: Path) -> None:
    report = readiness(tmp_path, CASES["SVAI_READY_002"][1])
    (finding,) = [f for f in report.findings if f.rule == "SVAI_READY_002"]
    assert finding.target == "gcp us-central1"
    assert "start cold" in finding.message and "250 ms" in finding.message


def test_fail_on_levels() -> None:
    def report(*severities: str) -> CheckReport:
        found = tuple(CheckFinding("R", s, "m", "h") for s in severities)  # type: ignore[arg-type]
        return CheckReport("x", "v", found, ())

    assert fails(report("low"), "low") and not fails(report("low"), "medium")
    assert fails(report("medium"), "medium") and not fails(report("medium"), "high")
    assert fails(report("high"), "high") and not fails(report(), "low")


def test_cli_check_merges_infrastructure_findings_and_gates(tmp_path: Path) -> None:
    # The whole pipeline, Pulumi resources included: auth none is a high readiness finding.
    path = write_project(tmp_path, _sub(GOOD_SYNC, "auth: iam", "auth: none"))
    runner = CliRunner()
    result = runner.invoke(cli, ["check", str(path), "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    _, plan = api.plan(path)
    infra = {(f.rule, f.resource) for t in plan.targets for f in t.findings}
    reported = {(f["rule"], f["resource"]) for f in data["findings"]}
    assert infra <= reported
    assert ("SVAI_READY_012", None) in reported
    assert data["counts"]["high"] == sum(f["severity"] == "high" for f in data["findings"])
    assert runner.invoke(cli, ["check", str(path), "--fail-on", "high"]).exit_code == 1
    # Restricted egress is built on AWS Lambda (issue #24): SVAI_AWS_035 does not refuse it, and
    # SVAI_READY_013, which reads that finding, passes; open egress is a low finding only.
    built = runner.invoke(cli, ["check", str(path), "--format", "json", "--fail-on", "never"])
    rules = {f["rule"] for f in json.loads(built.output)["findings"]}
    assert not {"SVAI_AWS_035", "SVAI_READY_013"} & rules
    open_egress = _sub(GOOD_SYNC, "network: {egress: private-only}", "network: {egress: all}")
    good = write_project(tmp_path / "good", open_egress)
    out = runner.invoke(cli, ["check", str(good), "--fail-on", "high"])
    assert out.exit_code == 0, out.output
