"""Cost to date against the budget: Cost Explorer on moto, BigQuery and Cost Management fakes.

moto's Cost Explorer tracks no spend: a test queues the answer through moto's own API, and moto
hands it to the first request and then to every request with the same parameters. Asking again
with the documented parameters, written out here, proves the reader sent exactly those.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    TOKEN,
    BigQueryBilling,
    CostManagement,
    LogAnalytics,
    Monitoring,
    moto_env,  # noqa: F401 - the fixture, used by name
    no_credentials,  # noqa: F401 - the fixture, used by name
    serving,
)
from test_promote_live import canary, svai

from svai.errors import UsageError
from svai.signals import azure, cost, gcp

TODAY = date(2026, 12, 5)
BUDGET = "observability: {budget_usd_month: 50}\ntargets:\n"


def queue_ce_answer(moto_url: str, amount: str) -> None:
    result = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-12-01", "End": "2026-12-06"},
                "Total": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
                "Groups": [],
                "Estimated": True,
            }
        ]
    }
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": [result]}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request).close()


def test_aws_reads_this_months_cost_of_the_tagged_resources_in_the_region(
    moto_env: str,  # noqa: F811 - the fixture
) -> None:
    queue_ce_answer(moto_env, "12.5")
    got = cost.cost_to_date("aws", "us-east-1", SERVICE, TODAY)
    assert (got.amount, got.currency, got.note) == (12.5, "USD", None)
    assert (got.since, got.until) == (date(2026, 12, 1), date(2026, 12, 6))
    ce = boto3.client("ce", region_name="us-east-1")
    documented = {
        "TimePeriod": {"Start": "2026-12-01", "End": "2026-12-06"},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "Filter": {
            "And": [
                {"Tags": {"Key": "svai-name", "Values": [SERVICE], "MatchOptions": ["EQUALS"]}},
                {
                    "Dimensions": {
                        "Key": "REGION",
                        "Values": ["us-east-1"],
                        "MatchOptions": ["EQUALS"],
                    }
                },
            ]
        },
    }
    again = ce.get_cost_and_usage(**documented)["ResultsByTime"]
    assert again[0]["Total"]["UnblendedCost"]["Amount"] == "12.5"
    # Other parameters (another deployment) get nothing: the check above could fail.
    other = {**documented, "Filter": {"Tags": {"Key": "svai-name", "Values": ["other"]}}}
    assert ce.get_cost_and_usage(**other)["ResultsByTime"] == []


@pytest.mark.usefixtures("no_credentials")
def test_each_cloud_without_credentials_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (gcp.BILLING_TABLE_VAR, "AZURE_SUBSCRIPTION_ID", "AZURE_MANAGEMENT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    notes = {c: cost.cost_to_date(c, "r", SERVICE, TODAY) for c in ("aws", "gcp", "azure")}
    assert all(n.amount is None for n in notes.values())
    assert "AWS_ACCESS_KEY_ID" in str(notes["aws"].note)
    assert gcp.BILLING_TABLE_VAR in str(notes["gcp"].note)
    assert "AZURE_MANAGEMENT_TOKEN" in str(notes["azure"].note)
    monkeypatch.setenv(gcp.BILLING_TABLE_VAR, "t")
    assert "GOOGLE_OAUTH_ACCESS_TOKEN" in str(cost.cost_to_date("gcp", "r", SERVICE, TODAY).note)


class Billing:
    """The GCP and Azure billing fakes and the signal fakes status also reads, on loopback."""

    def __init__(self) -> None:
        self.bigquery, self.costs = BigQueryBilling(), CostManagement()
        self.monitoring, self.workspace = Monitoring(), LogAnalytics()


@pytest.fixture
def billing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Billing]:
    fakes = Billing()
    with ExitStack() as stack:
        for var, fake in (
            (gcp.BIGQUERY_ENDPOINT_VAR, fakes.bigquery),
            (azure.MANAGEMENT_ENDPOINT_VAR, fakes.costs),
            (gcp.ENDPOINT_VAR, fakes.monitoring),
            (azure.ENDPOINT_VAR, fakes.workspace),
        ):
            monkeypatch.setenv(var, stack.enter_context(serving(fake)))
        monkeypatch.setenv(gcp.BILLING_TABLE_VAR, fakes.bigquery.table)
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", fakes.bigquery.project)
        monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", fakes.costs.subscription)
        monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", TOKEN)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_TOKEN", TOKEN)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_WORKSPACE_ID", fakes.workspace.workspace)
        yield fakes


def exported(name: str, region: str, month: str, amount: float, credit: float) -> dict[str, object]:
    labels = {"svai-name": name, "managed-by": "svai"}
    return {"labels": labels, "region": region, "month": month, "cost": amount,
            "credits": [credit], "currency": "USD"}  # fmt: skip


def test_gcp_sums_the_billing_export_rows_of_the_deployment(billing: Billing) -> None:
    billing.bigquery.rows += [
        exported(SERVICE, "us-central1", "202612", 10.0, -1.5),
        exported(SERVICE, "us-central1", "202612", 3.0, 0.0),
        exported(SERVICE, "us-central1", "202611", 99.0, 0.0),  # last month
        exported(SERVICE, "europe-west1", "202612", 99.0, 0.0),  # another target
        exported("other", "us-central1", "202612", 99.0, 0.0),  # another deployment
    ]
    got = cost.cost_to_date("gcp", "us-central1", SERVICE, TODAY)
    assert (got.amount, got.currency, got.note) == (11.5, "USD", None)
    nothing = cost.cost_to_date("gcp", "asia-east1", SERVICE, TODAY)
    assert nothing.amount == 0.0 and "no cost exported yet" in str(nothing.note)


def test_a_cloud_without_a_billing_reader_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no billing reader for cloud 'knative'"):
        cost.cost_to_date("knative", "r", SERVICE, TODAY)


def test_azure_reads_the_resource_groups_month_to_date_cost(billing: Billing) -> None:
    billing.costs.costs = {f"rg-svai-{SERVICE}": 7.25, "rg-svai-other": 99.0}
    got = cost.cost_to_date("azure", "eastus", SERVICE, TODAY)
    assert (got.amount, got.currency, got.note) == (7.25, "USD", None)
    billing.costs.costs = {}
    assert cost.cost_to_date("azure", "eastus", SERVICE, TODAY).amount == 0.0


def test_a_refused_billing_query_is_unavailable_with_the_clouds_answer(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "wrong")
    got = cost.cost_to_date("azure", "eastus", SERVICE, TODAY)
    assert got.amount is None and "HTTP 401" in str(got.note)
    monkeypatch.setenv(gcp.BILLING_TABLE_VAR, "t`; DROP TABLE x")
    assert "not a BigQuery table name" in str(cost.cost_to_date("gcp", "r", SERVICE, TODAY).note)


def test_status_shows_cost_to_date_against_the_budget_on_aws(
    tmp_path: Path,
    moto_env: str,  # noqa: F811 - the fixture
) -> None:
    spec, _ = canary(tmp_path)
    spec.write_text(spec.read_text().replace("targets:\n", BUDGET, 1))
    queue_ce_answer(moto_env, "12.5")
    code, out = svai("status", str(spec), "--format", "json")
    assert code == 0, out
    (target,) = json.loads(out)["targets"]
    assert target["cost"]["amount"] == 12.5
    assert (target["cost"]["budget_usd_month"], target["cost"]["budget_share"]) == (50.0, 0.25)
    code, out = svai("status", str(spec))
    assert code == 0, out
    assert ": 12.50 USD of the 50.00 USD monthly budget (25.0%)" in out


@pytest.mark.parametrize(
    ("target", "amount"),
    [
        ("  - {cloud: gcp, region: us-central1, runtime: container}", "4.00 USD"),
        ("  - {cloud: azure, region: eastus, runtime: container}", "7.25 USD"),
    ],
)
def test_status_shows_cost_on_gcp_and_azure(
    tmp_path: Path, billing: Billing, target: str, amount: str
) -> None:
    billing.bigquery.rows.append(
        exported(SERVICE, "us-central1", datetime.now(UTC).strftime("%Y%m"), 4.0, 0.0)
    )
    billing.costs.costs = {f"rg-svai-{SERVICE}": 7.25}
    spec, _ = canary(tmp_path, target)
    spec.write_text(spec.read_text().replace("targets:\n", BUDGET, 1))
    code, out = svai("status", str(spec))
    assert code == 0, out
    assert f": {amount} of the 50.00 USD monthly budget" in out
