"""The support matrix and the refusal of strategies an offering cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from svai import api
from svai.compiler.catalog import load_catalog
from svai.compiler.rollout import OFFERINGS, STRATEGIES, matrix, support
from svai.errors import UsageError
from tests.release.projects import Project


def test_matrix_covers_every_catalog_offering_and_strategy() -> None:
    catalog = load_catalog()
    ids = {o.id for cloud in ("aws", "gcp", "azure") for o in catalog.offerings(cloud)}
    assert ids == set(OFFERINGS)
    cells = matrix()
    assert len(cells) == len(OFFERINGS) * len(STRATEGIES)
    # every offering can at least replace a version; every answer says how or why not
    assert all(support(o, "all-at-once").supported for o in OFFERINGS)
    assert all(len(cell.how) > 20 for cell in cells)


@pytest.mark.parametrize(
    ("offering", "strategy", "supported", "words"),
    [
        ("aws.lambda.zip", "canary", True, "routingConfig"),
        ("aws.lambda.image", "shadow", False, "AWS Lambda aliases"),
        ("aws.sagemaker.serverless", "canary", False, "multiple production variants"),
        ("aws.sagemaker.realtime", "canary", True, "production variants"),
        ("aws.ecs.fargate", "blue-green", False, "ALB weighted target groups"),
        ("gcp.cloudrun.service", "canary", True, "traffics"),
        ("gcp.cloudrun.functions", "canary", False, "latest revision"),
        ("azure.functions.flex_consumption", "blue-green", False, "no deployment slots"),
        ("azure.containerapps", "canary", True, "revision weights"),
        ("azure.ml.online_endpoint", "shadow", False, "mirrorTraffic"),
    ],
)
def test_matrix_cells(offering: str, strategy: str, supported: bool, words: str) -> None:
    cell = support(offering, strategy)
    assert cell.supported is supported
    assert words in cell.how


def test_unknown_offering_or_strategy_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown offering"):
        support("aws.ec2", "canary")
    with pytest.raises(UsageError, match="unknown rollout strategy"):
        support("aws.lambda.zip", "linear")


def test_pinned_offering_that_cannot_run_the_strategy_is_an_error_naming_both(
    project: Project,
) -> None:
    spec = project(
        targets="  - {cloud: aws, region: us-east-1, overrides: {offering: aws.sagemaker.serverless}}"
    )
    with pytest.raises(UsageError) as caught:
        api.recommend(spec)
    message = str(caught.value)
    assert "aws.sagemaker.serverless" in message and "canary" in message
    assert "multiple production variants" in message


def test_runtime_kind_whose_offerings_cannot_run_the_strategy_is_an_error(
    project: Project,
) -> None:
    spec = project(targets="  - {cloud: azure, region: eastus, runtime: faas}")
    with pytest.raises(UsageError, match=r"runtime: faas.*azure.*canary.*Flex Consumption"):
        api.recommend(spec)


def test_auto_runtime_rejects_unsupported_offerings_with_the_reason(project: Project) -> None:
    spec = project(targets="  - {cloud: gcp, region: us-central1}")
    _, recommendation = api.recommend(spec)
    target = recommendation.targets[0]
    assert target.choice.offering != "gcp.cloudrun.functions"
    rejected = {a.offering: a.rejected_because for a in target.alternatives if not a.feasible}
    assert "canary is not supported by Cloud Run functions" in (
        rejected["gcp.cloudrun.functions"] or ""
    )


def test_shadow_on_lambda_is_refused_when_pinned(project: Project, tmp_path: Path) -> None:
    spec = project(
        targets="  - {cloud: aws, region: us-east-1, overrides: {offering: aws.lambda.zip}}",
        rollout="  strategy: shadow\n",
    )
    with pytest.raises(UsageError, match="shadow traffic is not supported by AWS Lambda aliases"):
        api.recommend(spec)


def test_all_at_once_refuses_nothing(project: Project) -> None:
    spec = project(
        targets="  - {cloud: gcp, region: us-central1, runtime: faas}",
        rollout="  strategy: all-at-once\n",
    )
    _, recommendation = api.recommend(spec)
    assert recommendation.targets[0].choice.offering == "gcp.cloudrun.functions"


def test_docs_table_matches_the_matrix() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "releases.md").read_text()
    for offering in OFFERINGS:
        cells = " | ".join("yes" if support(offering, s).supported else "no" for s in STRATEGIES)
        assert f"| `{offering}` | {cells} |" in doc
