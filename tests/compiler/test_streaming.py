"""Whether text generation can stream on each offering's path, and what the plan and package do."""

from __future__ import annotations

from pathlib import Path

import pytest

from svai import api
from svai.api import LoadedSpec
from svai.build.config import runtime_config
from svai.compiler.builds import BuildsError, parse_builds
from svai.compiler.catalog import load_catalog
from svai.compiler.planned import PlanResult
from svai.compiler.streaming import RULE, streaming_findings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def llm_plan() -> tuple[LoadedSpec, PlanResult]:
    return api.plan(EXAMPLES / "llm-gpu" / "svai.yaml")


def test_the_catalog_records_whether_each_offering_streams() -> None:
    builds = load_catalog().builds
    assert set(builds.streaming) == set(builds.rollout)  # every offering row says
    assert builds.streams("gcp.cloudrun.service")[0]
    assert builds.streams("azure.containerapps")[0]
    streams, why = builds.streams("aws.sagemaker.realtime")
    assert not streams
    assert "InvokeEndpointWithResponseStream" in why and "30 s" in why
    assert builds.streams("an.unknown.offering") == (False, "svai has no streaming fact for it")


def test_a_malformed_streaming_fact_is_refused() -> None:
    row = {"rollout": {}, "streaming": True}
    with pytest.raises(BuildsError, match=r"builds.offerings.x.streaming: must be"):
        parse_builds({"offerings": {"x": row}})


def test_the_plan_says_which_llm_target_cannot_stream(
    llm_plan: tuple[LoadedSpec, PlanResult],
) -> None:
    _, result = llm_plan
    found = {t.plan.cloud: [f for f in t.findings if f.rule == RULE] for t in result.targets}
    assert found["gcp"] == []  # Cloud Run streams
    (aws,) = found["aws"]  # SageMaker behind the HTTP API and a proxy Lambda buffers
    assert aws.severity == "medium" and aws.cloud == "aws"
    assert "stream: true" in aws.message and "400 streaming_unsupported" in aws.message
    assert "stream: false" in aws.hint


def test_the_package_turns_streaming_off_where_the_path_buffers(
    llm_plan: tuple[LoadedSpec, PlanResult], tmp_path: Path
) -> None:
    loaded, result = llm_plan
    for target in result.targets:
        rec = target.recommendation
        config = runtime_config(loaded.resolved, loaded.base_dir, "v1", rec)
        can = load_catalog().builds.streams(rec.choice.offering)[0]
        assert config["generation"]["streaming"] is can, rec.choice.offering
    assert runtime_config(loaded.resolved, loaded.base_dir, "v1", None)["generation"]["streaming"]


def test_models_that_do_not_generate_get_no_streaming_finding() -> None:
    loaded, recommendation = api.recommend(EXAMPLES / "fraud-sklearn" / "svai.yaml")
    for rec in recommendation.targets:
        assert streaming_findings(loaded.resolved, rec) == ()
