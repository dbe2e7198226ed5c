"""Whether text generation can stream on each offering's path, and what the plan and package do."""

from __future__ import annotations

import dataclasses
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
    assert streams and "InvokeEndpointWithResponseStream" in why and "RESPONSE_STREAM" in why
    streams, why = builds.streams("aws.sagemaker.serverless")  # unverified: not claimed
    assert not streams and "not verified" in why
    assert "streamRawPredict" in builds.streams("gcp.vertex.endpoint")[1]
    assert "/score" in builds.streams("azure.ml.online_endpoint")[1]
    streams, why = builds.streams("aws.lambda.zip")
    assert not streams and "30 s" in why
    assert builds.streams("an.unknown.offering") == (False, "svai has no streaming fact for it")


def test_a_malformed_streaming_fact_is_refused() -> None:
    row = {"rollout": {}, "streaming": True}
    with pytest.raises(BuildsError, match=r"builds.offerings.x.streaming: must be"):
        parse_builds({"offerings": {"x": row}})


def test_the_streaming_url_goes_where_the_catalog_says_and_streams() -> None:
    builds = load_catalog().builds
    assert builds.stream_urls == {"aws.sagemaker.realtime"}
    assert all(builds.streams(offering)[0] for offering in builds.stream_urls)
    assert builds.stream_url("aws.sagemaker.realtime")
    assert not builds.stream_url("aws.sagemaker.serverless")
    with pytest.raises(BuildsError, match=r"builds.offerings.x.stream_url: must be true or false"):
        parse_builds({"offerings": {"x": {"rollout": {}, "stream_url": "yes"}}})


def test_no_llm_target_is_left_without_a_stream(
    llm_plan: tuple[LoadedSpec, PlanResult],
) -> None:
    # Cloud Run streams; SageMaker through its function URL; Azure ML through /score.
    _, result = llm_plan
    assert {t.plan.cloud for t in result.targets} == {"aws", "azure", "gcp"}
    assert not [f for t in result.targets for f in t.findings if f.rule == RULE]


def test_the_plan_says_when_a_path_cannot_stream(llm_plan: tuple[LoadedSpec, PlanResult]) -> None:
    loaded, result = llm_plan
    rec = next(t.recommendation for t in result.targets if t.plan.cloud == "gcp")
    functions = dataclasses.replace(rec.choice, offering="gcp.cloudrun.functions")
    (finding,) = streaming_findings(loaded.resolved, dataclasses.replace(rec, choice=functions))
    assert finding.rule == RULE and finding.severity == "medium" and finding.cloud == "gcp"
    assert "stream: true" in finding.message and "400 streaming_unsupported" in finding.message
    assert "stream: false" in finding.hint


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
