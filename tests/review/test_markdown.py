"""`svai plan --format markdown`: golden Markdown for every example, and what a reviewer needs.

Refresh the golden files with ``SVAI_UPDATE_GOLDEN=1 pytest tests/review``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from svai import api
from svai.cli.main import cli
from svai.compiler.formatting import format_usd
from svai.compiler.markdown import cell, latency_cell, plan_markdown
from tests.review.helpers import BASE_SPEC, EXAMPLES, check_golden, write_project

EXAMPLE_SPECS = sorted(EXAMPLES.glob("*/svai.yaml"))


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.parent.name)
def test_example_markdown_matches_golden(spec: Path) -> None:
    loaded, result = api.plan(spec)
    text = plan_markdown(loaded.resolved, result)
    check_golden(f"{spec.parent.name}.plan.md", text)
    # The comment shows, per target, the runtime, p95/p99 against the targets and the cost.
    for t in result.targets:
        row = next(line for line in text.splitlines() if line.startswith(f"| **{t.plan.cloud} "))
        assert t.recommendation.choice.name in row
        assert f"{t.recommendation.predicted.cold_start_rate:.2%}" in row
    assert text.count("<details>") == len(result.targets)
    assert sum(len(t.resources) for t in result.targets) == sum(
        1 for line in text.splitlines() if line.startswith("| ") and "`" in line
    )


def test_markdown_reports_findings_and_misses(tmp_path: Path) -> None:
    # A target that cannot meet its latency target: the row shows ✗ and the why-line says so.
    spec = BASE_SPEC.replace("inference_time: 2ms", "inference_time: 400ms")
    path = write_project(tmp_path, spec)
    loaded, result = api.plan(path)
    text = plan_markdown(loaded.resolved, result)
    row = next(line for line in text.splitlines() if line.startswith("| **aws us-east-1**"))
    assert "✗ (100 ms)" in row
    assert "✗ **misses the latency targets**:" in text
    counts = re.search(r"\*\*Findings:\*\* (\d+) high · (\d+) medium · (\d+) low", text)
    assert counts is not None
    shown = [f for t in result.targets for f in t.findings if f.severity in ("high", "medium")]
    assert text.count("\n- **high**") + text.count("\n- **medium**") == len(shown)


def test_cli_markdown_is_deterministic(tmp_path: Path) -> None:
    path = write_project(tmp_path, BASE_SPEC)
    runner = CliRunner()
    first = runner.invoke(cli, ["plan", str(path), "--format", "markdown"])
    second = runner.invoke(cli, ["plan", str(path), "--format", "markdown"])
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    assert first.output.startswith("### svai plan: `scorer` · model `v-")
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", first.output)


def test_cells_and_latency_verdicts() -> None:
    assert cell("a | b\nc") == "a \\| b c"
    assert latency_cell(7.8, 0.1) == "7.8 ms ✓ (100 ms)"
    assert latency_cell(120.0, 0.1) == "120 ms ✗ (100 ms)"
    assert latency_cell(120.0, None) == "120 ms"


def test_the_comment_prices_a_blue_green_release_beside_the_month(tmp_path: Path) -> None:
    """SageMaker's blue/green update keeps a second fleet up: the comment, `svai plan`'s text
    and its JSON show the same per-release figure; an all-at-once release shows none."""
    override = "  - {cloud: aws, region: us-east-1, overrides: {offering: aws.sagemaker.realtime, "
    spec = BASE_SPEC.replace(
        "  - {cloud: aws, region: us-east-1}\n",
        override + "min_instances: 2}}\nrollout: {strategy: blue-green, interval: 30m}\n",
    )
    path = write_project(tmp_path, spec)
    loaded, result = api.plan(path)
    (target,) = result.targets
    assert target.cost is not None
    (line,) = target.cost.per_release.lines
    usd = format_usd(target.cost.per_release_usd)
    rate = format_usd(line.usd_per_instance_hour)
    # Two fleets of 2 for the bake and the termination wait (30 min each): 2 extra for 1 h.
    fleet = f"2× {target.plan.services[0].compute.instance_type} for 1 h at {rate}/h: {usd}"
    text = plan_markdown(loaded.resolved, result)
    assert f"  - per release: {usd} — api: new fleet beside the live one" in text
    assert fleet in text
    runner = CliRunner()
    shown = runner.invoke(cli, ["plan", str(path)])
    assert shown.exit_code == 0, shown.output
    assert f"  per release: {usd} (each canary or blue/green release)" in shown.output
    assert fleet in shown.output
    as_json = runner.invoke(cli, ["plan", str(path), "--format", "json"])
    cost = json.loads(as_json.output)["targets"][0]["cost"]
    assert cost["per_release_usd"] == round(target.cost.per_release_usd, 6) > 0
    assert cost["per_release"] == [
        {
            "service": "api",
            "held": "blue-green",
            "instances": 2,
            "size": target.plan.services[0].compute.instance_type,
            "hours": 1.0,
            "usd_per_instance_hour": round(line.usd_per_instance_hour, 6),
            "usd": round(line.usd, 6),
        }
    ]
    # The same release, all at once: no second fleet, nothing said.
    path.write_text(spec.replace("strategy: blue-green", "strategy: all-at-once"), "utf-8")
    loaded, result = api.plan(path)
    assert "per release" not in plan_markdown(loaded.resolved, result)
    as_json = runner.invoke(cli, ["plan", str(path), "--format", "json"])
    assert json.loads(as_json.output)["targets"][0]["cost"]["per_release"] == []
