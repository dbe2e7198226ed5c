"""The catalog's private-network facts, evaluated for plans: what backend and bill both read."""

from __future__ import annotations

import dataclasses

import pytest
from plans import async_plan, sync_plan

from svai.compiler import egress
from svai.compiler.builds import PLAN_FACTS, BuildsError, parse_builds
from svai.compiler.catalog import load_catalog


def test_every_fact_a_condition_may_name_has_a_meaning() -> None:
    assert set(egress.FACT_TESTS) == PLAN_FACTS


def test_conditions_are_alternatives_of_facts_that_must_all_hold() -> None:
    plan = dataclasses.replace(async_plan("azure"), egress="none", private_network=False)
    assert egress.holds((frozenset(),), plan)  # the empty set: always
    assert not egress.holds((), plan)  # no alternative: never
    assert egress.holds((frozenset({"restricted", "queue"}),), plan)
    assert not egress.holds((frozenset({"restricted", "private"}),), plan)
    assert egress.holds((frozenset({"private"}), frozenset({"restricted"})), plan)


def test_an_aws_vpc_gets_an_endpoint_per_service_its_code_calls() -> None:
    plan = dataclasses.replace(async_plan("aws"), egress="none")
    assert egress.private_endpoints(plan) == (
        "dynamodb",
        "logs",
        "s3",
        "secretsmanager",
        "sqs",
        "xray",
    )
    gated = dataclasses.replace(
        sync_plan("aws", "aws.sagemaker.realtime", canary=True), egress="none"
    )
    assert {"sagemaker.runtime", "monitoring", "lambda"} <= set(egress.private_endpoints(gated))
    assert egress.private_endpoints(dataclasses.replace(plan, egress="all")) == ()
    assert egress.free_endpoints("aws") == {"s3", "dynamodb"}


def test_an_azure_vnet_gets_a_private_link_per_data_service_and_function() -> None:
    plan = dataclasses.replace(async_plan("azure"), egress="none", private_network=True)
    functions = sum(1 for s in plan.services if s.compute.kind == "faas")
    links = egress.private_endpoints(plan)
    assert links.count("blob") == 1 + functions  # artifacts, then each app's host storage
    assert links.count("sites") == functions  # a private plan's inbound calls
    assert {"Sql", "namespace", "vault", "azuremonitor"} <= set(links)
    assert egress.network_built(plan) and egress.network_closed(plan)
    assert "privatelink.servicebus.windows.net" in egress.private_zones(plan)
    open_plan = dataclasses.replace(plan, egress="all", private_network=False)
    assert not egress.network_built(open_plan) and egress.private_endpoints(open_plan) == ()


def test_a_cloud_without_a_network_row_builds_no_private_endpoints() -> None:
    plan = dataclasses.replace(sync_plan("gcp"), egress="none")
    assert load_catalog().builds.cloud("gcp").network.endpoints == ()
    assert egress.private_endpoints(plan) == () and not egress.network_built(plan)


_ROW = {
    "edge_rate_limit": {"auth": [], "except": []},
    "front": "x.fn",
    "front_concurrency": 1,
    "endpoint_proxy": None,
    "handlers": {"model": "m", "front": "f"},
}


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"built_when": [["sunny"]]}, r"built_when: unknown plan facts \['sunny'\]"),
        ({"closed_when": ["restricted"]}, r"closed_when: must be a list of lists"),
        ({"endpoints": [{"names": ["a"], "when": [["cloudy"]]}]}, r"endpoints.0.when: unknown"),
    ],
)
def test_a_malformed_network_row_is_refused(network: dict[str, object], message: str) -> None:
    with pytest.raises(BuildsError, match=message):
        parse_builds({"clouds": {"x": {**_ROW, "network": network}}})
