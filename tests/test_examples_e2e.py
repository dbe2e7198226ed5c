"""End to end on every bundled example: validate → recommend → plan on all its clouds, offline.

The JSON plan of each example is a golden file; refresh with ``SVAI_UPDATE_GOLDEN=1 pytest``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from svai import api
from svai.backends.aws.arguments import SERVERLESS
from svai.backends.gcp.context import VERTEX_OFFERINGS
from svai.compiler.planned import to_dict
from tests.goldens import check_golden

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted(ROOT.joinpath("examples").glob("*/svai.yaml"))
GOLDEN = ROOT / "tests" / "golden"


def plan_json(path: Path) -> str:
    _, result = api.plan(path)
    return json.dumps(to_dict(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.parent.name)
def planned(request: pytest.FixtureRequest) -> tuple[Path, dict]:  # type: ignore[type-arg]
    path: Path = request.param
    text = plan_json(path)
    check_golden(GOLDEN / f"{path.parent.name}.plan.json", text)
    return path, json.loads(text)


NOT_BUILT = frozenset({"SVAI_AWS_035", "SVAI_GCP_019"})
"""Refusals of declared settings a backend cannot build (issue #24): restricted egress for
SageMaker Serverless Inference and for Vertex AI endpoints. They are the only high findings an
example may have (Azure builds restricted egress and a private registry)."""

EGRESS_RULES = {"aws": "SVAI_AWS_035", "gcp": "SVAI_GCP_019", "azure": "SVAI_AZ_030"}

UNRESTRICTABLE = VERTEX_OFFERINGS | {SERVERLESS}
"""Offerings whose egress a deployment cannot restrict: Serverless Inference takes no VPC
configuration, a Vertex AI container's egress needs VPC Service Controls (an organization's)."""


def _check_high(cloud: str, egress: str, high: set[str], offerings: set[str]) -> None:
    """Only refusals of what is not built; a declared egress is built or refused, never dropped."""
    assert high <= NOT_BUILT, (cloud, high)
    # AWS builds restricted egress for Lambda functions and real-time SageMaker endpoints, GCP
    # for Cloud Run services and functions, Azure for every offering; the offerings above are
    # refused.
    built = not offerings & UNRESTRICTABLE
    assert (EGRESS_RULES[cloud] in high) == (egress != "all" and not built), (cloud, egress, high)


def test_every_target_is_a_complete_deployment_with_no_high_findings(planned) -> None:  # type: ignore[no-untyped-def]
    path, data = planned
    assert data["targets"], path
    for target in data["targets"]:
        high = {f["rule"] for f in target["findings"] if f["severity"] == "high"}
        types = {r["type"] for r in target["resources"]}
        offerings = {s["compute"]["offering"] for s in target["plan"]["services"]}
        _check_high(target["cloud"], target["plan"]["egress"], high, offerings)
        assert len(target["resources"]) >= 15
        version = data["model_version"]
        assert target["plan"]["model_version"] == version
        # Every deployment has its alarms and a budget, whatever the cloud spells them.
        assert any("alarm" in t.lower() or "alert" in t.lower() for t in types), types
        assert any("budget" in t.lower() for t in types), types


def test_plans_are_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    example = ROOT / "examples" / "fraud-sklearn" / "svai.yaml"
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-m", "svai.cli.main", "plan", str(example), "--format", "json"],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr.decode()
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]


def test_a_canary_secret_value_never_reaches_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-7f3c9e1d2b-never-print-me"
    monkeypatch.setenv("FEATURE_STORE_TOKEN", canary)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", canary)
    text = plan_json(ROOT / "examples" / "fraud-sklearn" / "svai.yaml")
    assert canary not in text
    # The reference is there, the value is not.
    assert "prod/fraud/feature-store-token" in text


ALL_CLOUDS = [
    {"cloud": "aws", "region": "us-east-1"},
    {"cloud": "gcp", "region": "us-central1", "project": "svai-example"},
    {"cloud": "azure", "region": "eastus"},
]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_plans_on_all_three_clouds_with_no_high_findings(
    path: Path, tmp_path: Path
) -> None:
    import shutil

    import yaml

    folder = tmp_path / path.parent.name
    shutil.copytree(path.parent, folder)
    data = yaml.safe_load(path.read_text())
    data["targets"] = ALL_CLOUDS
    # Secrets referenced for fewer clouds get a reference in every cloud's secret manager.
    for name, refs in data.get("security", {}).get("secrets", {}).items():
        for cloud in ("aws", "gcp", "azure"):
            refs.setdefault(cloud, "vault/" + name.lower().replace("_", "-"))
    (folder / "svai.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    _, result = api.plan(folder / "svai.yaml")
    assert [t.plan.cloud for t in result.targets] == ["aws", "gcp", "azure"]
    for target in result.targets:
        high = {f.rule for f in target.findings if f.severity == "high"}
        offerings = {s.compute.offering for s in target.plan.services}
        _check_high(target.plan.cloud, target.plan.egress, high, offerings)
        assert len(target.resources) >= 15
