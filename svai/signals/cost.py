"""Cost to date (this calendar month, UTC) of one deployment on one cloud, from its billing API.

Each cloud's billing data finds the deployment by what the backend puts on every resource:

* AWS: Cost Explorer ``GetCostAndUsage``, ``UnblendedCost`` this month, filtered on the tag
  ``svai-name`` and the target's region. The tag counts only once it is activated as a cost
  allocation tag (Billing console), as the deployment's budget also needs.
* GCP: Cloud Billing has no query API for costs; its documented route is the billing export to
  BigQuery. With ``SVAI_GCP_BILLING_TABLE`` naming the export table (``project.dataset.table``),
  a BigQuery ``jobs.query`` sums ``cost`` plus ``credits`` of this invoice month over the rows
  labelled ``svai-name`` in the target's region. Without it the cost is unavailable, and says why.
* Azure: Cost Management ``Query`` (``ActualCost``, ``MonthToDate``) over the deployment's
  resource group ``rg-svai-<name>``, with ``AZURE_SUBSCRIPTION_ID`` and a token for
  ``https://management.azure.com`` in ``AZURE_MANAGEMENT_TOKEN``.

Billing data lags (hours on every cloud), so the figure trails the spend. A cloud that cannot say
gives a :class:`Cost` with no amount and a note naming what is missing, rather than an error:
``svai status`` shows the live signals either way. Endpoints can be pointed elsewhere
(``AWS_ENDPOINT_URL``, ``SVAI_GCP_BIGQUERY_ENDPOINT``, ``SVAI_AZURE_MANAGEMENT_ENDPOINT``), which
is how the tests reach moto and loopback fakes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from svai.errors import DeployError, ToolMissingError
from svai.signals import aws, gcp, rest

__all__ = [
    "AZURE_ENDPOINT_VAR",
    "BIGQUERY_ENDPOINT_VAR",
    "BILLING_TABLE_VAR",
    "TAG",
    "Cost",
    "aws_request",
    "cost_to_date",
]

TAG = "svai-name"
"""The tag (AWS) / label (GCP) the backends put on every resource of a deployment."""

BILLING_TABLE_VAR = "SVAI_GCP_BILLING_TABLE"
BIGQUERY_ENDPOINT_VAR = "SVAI_GCP_BIGQUERY_ENDPOINT"
AZURE_ENDPOINT_VAR = "SVAI_AZURE_MANAGEMENT_ENDPOINT"
_BIGQUERY = "https://bigquery.googleapis.com"
_MANAGEMENT = "https://management.azure.com"
_COST_API_VERSION = "2023-11-01"
_TABLE = re.compile(r"^[A-Za-z0-9_:.-]{1,1024}$")


@dataclass(frozen=True, slots=True)
class Cost:
    """One deployment's cost this month on one cloud.

    Attributes:
        cloud: ``aws``, ``gcp`` or ``azure``.
        since: The first day counted (the month's first, UTC).
        until: The first day not counted (tomorrow).
        amount: What was spent, or ``None`` when the cloud could not say (``note`` says why).
        currency: The amount's currency (``USD`` unless the account bills in another).
        source: Which API answered.
        note: Why the amount is missing, or what it leaves out.
    """

    cloud: str
    since: date
    until: date
    amount: float | None
    currency: str | None
    source: str
    note: str | None = None

    def as_dict(self, budget_usd_month: float | None) -> dict[str, Any]:
        """JSON-ready, with the share of ``budget_usd_month`` spent (``None`` where unknown)."""
        share = None
        if self.amount is not None and budget_usd_month and self.currency == "USD":
            share = self.amount / budget_usd_month
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "amount": self.amount,
            "currency": self.currency,
            "budget_usd_month": budget_usd_month,
            "budget_share": share,
            "source": self.source,
            "note": self.note,
        }


def cost_to_date(cloud: str, region: str, name: str, today: date | None = None) -> Cost:
    """Deployment ``name``'s cost on ``cloud`` (in ``region``) from the month's start to today.

    Missing credentials or a refused query give a :class:`Cost` without an amount, whose note
    says why (what to set, or what the cloud answered).
    """
    day = today or datetime.now(UTC).date()
    since, until = day.replace(day=1), day + timedelta(days=1)
    reader = {"aws": _aws, "gcp": _gcp, "azure": _azure}[cloud]
    source = _SOURCES[cloud]
    try:
        amount, currency, note = reader(region, name, since, until)
    except (ToolMissingError, DeployError) as exc:
        return Cost(cloud, since, until, None, None, source, str(exc))
    return Cost(cloud, since, until, amount, currency, source, note)


_SOURCES = {
    "aws": "Cost Explorer GetCostAndUsage",
    "gcp": "Cloud Billing export (BigQuery)",
    "azure": "Cost Management Query",
}

_Answer = tuple[float | None, str | None, str | None]


def aws_request(region: str, name: str, since: date, until: date) -> dict[str, Any]:
    """The ``GetCostAndUsage`` parameters: this month's unblended cost of the tagged resources."""
    return {
        "TimePeriod": {"Start": since.isoformat(), "End": until.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "Filter": {
            "And": [
                {"Tags": {"Key": TAG, "Values": [name], "MatchOptions": ["EQUALS"]}},
                {"Dimensions": {"Key": "REGION", "Values": [region], "MatchOptions": ["EQUALS"]}},
            ]
        },
    }


def _aws(region: str, name: str, since: date, until: date) -> _Answer:
    from botocore.exceptions import BotoCoreError, ClientError

    ce = aws.client("ce", "us-east-1")  # Cost Explorer's one endpoint, whatever the target
    try:
        answer = ce.get_cost_and_usage(**aws_request(region, name, since, until))
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(f"Cost Explorer GetCostAndUsage failed: {exc}") from None
    totals = [r["Total"]["UnblendedCost"] for r in answer.get("ResultsByTime", [])]
    totals = [t for t in totals if t.get("Amount") is not None]
    if not totals:
        return 0.0, "USD", "no cost recorded yet (or the svai-name cost allocation tag is inactive)"
    return sum(float(t["Amount"]) for t in totals), totals[0].get("Unit", "USD"), None


# Cost plus credits (negative) of this invoice month, on the rows labelled with the deployment.
_BILLING_SQL = (
    "SELECT SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS cost, "
    "ANY_VALUE(currency) AS currency FROM `{table}` "
    "WHERE invoice.month = @month AND location.region = @region "
    f"AND EXISTS (SELECT 1 FROM UNNEST(labels) AS l WHERE l.key = '{TAG}' AND l.value = @name)"
)


def _gcp(region: str, name: str, since: date, until: date) -> _Answer:
    del until  # the invoice month is the unit of the export
    table = os.environ.get(BILLING_TABLE_VAR)
    if not table:
        raise ToolMissingError(
            f"no billing export: set {BILLING_TABLE_VAR} to the Cloud Billing export table "
            "in BigQuery (project.dataset.gcp_billing_export_v1_...)"
        )
    if not _TABLE.match(table):
        raise DeployError(f"{BILLING_TABLE_VAR}={table!r} is not a BigQuery table name")
    token, project = gcp.credentials(os.environ)
    base = os.environ.get(BIGQUERY_ENDPOINT_VAR) or _BIGQUERY

    def parameter(key: str, value: str) -> dict[str, Any]:
        return {
            "name": key,
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": value},
        }

    body = {
        "query": _BILLING_SQL.format(table=table.replace(":", ".")),
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": [
            parameter("month", since.strftime("%Y%m")),
            parameter("region", region),
            parameter("name", name),
        ],
        "timeoutMs": 30_000,
    }
    url = f"{base}/bigquery/v2/projects/{project}/queries"
    answer = rest.call(url, token, "BigQuery jobs.query", body=body)
    if not answer.get("jobComplete", False):
        raise DeployError("BigQuery jobs.query: the billing query did not finish within 30 s")
    rows = answer.get("rows") or []
    cells = [cell.get("v") for cell in rows[0]["f"]] if rows else [None, None]
    if cells[0] is None:
        return 0.0, "USD", "no cost exported yet for this deployment this month"
    return float(cells[0]), str(cells[1] or "USD"), None


def _azure(region: str, name: str, since: date, until: date) -> _Answer:
    del region, since, until  # one resource group per deployment; MonthToDate is the period
    subscription, token = (
        os.environ.get("AZURE_SUBSCRIPTION_ID"),
        os.environ.get("AZURE_MANAGEMENT_TOKEN"),
    )
    if not subscription or not token:
        raise ToolMissingError(
            "no Azure Cost Management credentials: set AZURE_SUBSCRIPTION_ID and "
            "AZURE_MANAGEMENT_TOKEN (az account get-access-token --resource "
            "https://management.azure.com)"
        )
    base = os.environ.get(AZURE_ENDPOINT_VAR) or _MANAGEMENT
    scope = f"/subscriptions/{subscription}/resourceGroups/rg-svai-{name}"
    url = f"{base}{scope}/providers/Microsoft.CostManagement/query?api-version={_COST_API_VERSION}"
    body = {
        "type": "ActualCost",
        "timeframe": "MonthToDate",
        "dataset": {
            "granularity": "None",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
        },
    }
    answer = rest.call(url, token, "Cost Management Query", body=body)
    properties = answer.get("properties") or {}
    columns = [str(c.get("name", "")) for c in properties.get("columns", [])]
    rows = properties.get("rows") or []
    if not rows:
        return 0.0, "USD", "no cost recorded yet for the resource group this month"
    row = dict(zip(columns, rows[0], strict=False))
    # The summed column is named after the aggregated one (Cost, PreTaxCost, totalCost...).
    amount = next(
        (row[c] for c in columns if c != "Currency" and isinstance(row.get(c), int | float)), None
    )
    if amount is None:
        raise DeployError(f"Cost Management Query answered no cost column: {columns}")
    return float(amount), str(row.get("Currency") or "USD"), None
