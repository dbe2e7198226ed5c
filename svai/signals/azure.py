"""Azure: Azure Monitor Logs ``query`` over the runtime's request lines in Log Analytics.

Container Apps and Azure ML endpoints send the runtime's stdout to the Log Analytics workspace
(``ContainerAppConsoleLogs``, ``AmlOnlineEndpointConsoleLog``), the tables the backend's alerts
read (:mod:`svai.backends.azure.alerts`); one KQL query parses the request lines of one version
and summarizes them into one row.

Credentials: ``AZURE_LOG_ANALYTICS_WORKSPACE_ID`` and a token for ``https://api.loganalytics.io``
in ``AZURE_LOG_ANALYTICS_TOKEN`` (``az account get-access-token --resource
https://api.loganalytics.io``); ``SVAI_AZURE_LOGS_ENDPOINT`` points the reader elsewhere. The
same tables give ``svai logs`` its lines (:func:`logs`).

Cost to date (:func:`cost`): Cost Management ``Query`` (``ActualCost``, ``MonthToDate``) over the
deployment's resource group ``rg-svai-<name>``, with ``AZURE_SUBSCRIPTION_ID`` and a token for
``https://management.azure.com`` in ``AZURE_MANAGEMENT_TOKEN``;
``SVAI_AZURE_MANAGEMENT_ENDPOINT`` points it elsewhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from svai.errors import DeployError, ToolMissingError
from svai.signals import rest
from svai.signals.cost import Answer
from svai.signals.logs import LogLine, LogQuery, millis, parse
from svai.signals.model import Signals, Source, Window

if TYPE_CHECKING:
    from svai.runtime.cloud.azure import ManagedIdentityTokens

__all__ = [
    "COST_SOURCE",
    "ENDPOINT_VAR",
    "MANAGEMENT_ENDPOINT_VAR",
    "cost",
    "credentials",
    "logs",
    "management_endpoint",
    "query_rows",
    "queue_age",
    "read",
    "request_lines",
]

ENDPOINT_VAR = "SVAI_AZURE_LOGS_ENDPOINT"
_ENDPOINT = "https://api.loganalytics.io"
_TABLES = (("ContainerAppConsoleLogs", "Log"), ("AmlOnlineEndpointConsoleLog", "Message"))
"""The tables holding the runtime's stdout, and the column holding each line."""


def access_token(env: Mapping[str, str], variable: str, resource: str) -> str | None:
    """A bearer token for ``resource``: a person's ``variable``, else the managed identity's.

    Where a managed identity is assigned (the release gate job: ``IDENTITY_ENDPOINT``,
    ``IDENTITY_HEADER``, ``AZURE_CLIENT_ID``) the token comes from its endpoint, reused until it
    nears expiry; elsewhere, with no variable, there is none.

    Raises:
        svai.runtime.cloud.azure.AzureError: the identity endpoint refused or kept failing.
        svai.runtime.core.errors.ConfigError: the identity's variables are incomplete.
    """
    token = env.get(variable)
    if token or not env.get("IDENTITY_ENDPOINT"):
        return token or None
    from svai.runtime.cloud.azure import ManagedIdentityTokens

    key = (env["IDENTITY_ENDPOINT"], env.get("AZURE_CLIENT_ID", ""))
    identity = _IDENTITIES.get(key)
    if identity is None:
        identity = _IDENTITIES[key] = ManagedIdentityTokens.from_environment(env)
    return identity.token(resource)


_IDENTITIES: dict[tuple[str, str], ManagedIdentityTokens] = {}
"""One token cache per identity endpoint and client id."""


def credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """The token and workspace id, or an error naming what to set.

    Raises:
        svai.errors.ToolMissingError: either is missing.
    """
    token, workspace = (
        access_token(env, "AZURE_LOG_ANALYTICS_TOKEN", "https://api.loganalytics.io"),
        env.get("AZURE_LOG_ANALYTICS_WORKSPACE_ID"),
    )
    if not token or not workspace:
        raise ToolMissingError(
            "no Azure credentials: set AZURE_LOG_ANALYTICS_WORKSPACE_ID and "
            "AZURE_LOG_ANALYTICS_TOKEN (az account get-access-token --resource "
            "https://api.loganalytics.io)"
        )
    return token, workspace


def request_lines(service: str, version: str | None) -> str:
    """KQL: the runtime's lines of ``service`` (and ``version``), as ``line`` and parsed ``e``."""
    unions = ", ".join(f"({table} | extend line = {column})" for table, column in _TABLES)
    kql = f"union {unions} | extend e = parse_json(line) "
    kql += f"| where tostring(e.service) == {json.dumps(service)}"
    if version is not None:
        kql += f" and tostring(e.model_version) == {json.dumps(version)}"
    return kql


def query_rows(
    url_base: str, workspace: str, token: str, kql: str, window: Window
) -> list[dict[str, Any]]:
    """Run ``kql`` over ``window``; the rows of the primary table as column -> value.

    Raises:
        svai.errors.DeployError: the service refused the query or answered no table.
    """
    answer = rest.call(
        f"{url_base}/v1/workspaces/{workspace}/query",
        token,
        "Azure Monitor Logs query",
        body={"query": kql, "timespan": f"PT{window.seconds}S"},
    )
    tables = answer.get("tables") or []
    if not tables:
        raise DeployError("Azure Monitor Logs query answered no table")
    names = [c["name"] for c in tables[0].get("columns", [])]
    return [dict(zip(names, row, strict=True)) for row in tables[0].get("rows", [])]


def read(source: Source, window: Window) -> Signals:
    """Read one version's signals over ``window`` from Azure Monitor Logs.

    Raises:
        svai.errors.ToolMissingError: no token or workspace.
        svai.errors.DeployError: the query failed.
    """
    token, workspace = credentials(os.environ)
    base = os.environ.get(ENDPOINT_VAR) or _ENDPOINT
    kql = (
        f'{request_lines(source.service, source.version)} | where tostring(e.message) == "request" '
        "| extend ms = todouble(e.latency_ms), status = toint(e.status) "
        "| summarize requests = count(), errors = countif(status >= 500), "
        "cold_starts = countif(tobool(e.cold_start)), throttles = countif(status == 429), "
        "p50_ms = percentile(ms, 50), p95_ms = percentile(ms, 95), p99_ms = percentile(ms, 99)"
    )
    rows = query_rows(base, workspace, token, kql, window)
    row = rows[0] if rows else {}
    requests = int(row.get("requests") or 0)

    def seconds(column: str) -> float | None:
        value = row.get(column)
        return None if value is None or requests == 0 else float(value) / 1000

    return Signals(
        source,
        window,
        requests=requests,
        errors=int(row.get("errors") or 0),
        cold_starts=int(row.get("cold_starts") or 0),
        throttles=int(row.get("throttles") or 0),
        p50_s=seconds("p50_ms"),
        p95_s=seconds("p95_ms"),
        p99_s=seconds("p99_ms"),
    )


def queue_age(service: str, region: str, window: Window) -> float | None:
    """The oldest job's age (s) when a worker took it: the runtime's ``queue_age_s``, its maximum.

    Service Bus publishes no oldest-message age; the worker writes each job's age on its line,
    which is also what the deployment's queue-age alert reads. ``None`` when no job was taken.

    Raises:
        svai.errors.ToolMissingError: no token or workspace.
        svai.errors.DeployError: the query failed.
    """
    del region  # one workspace per deployment
    token, workspace = credentials(os.environ)
    base = os.environ.get(ENDPOINT_VAR) or _ENDPOINT
    kql = (
        f"{request_lines(service, None)} | where isnotnull(e.queue_age_s) "
        "| summarize age_s = max(todouble(e.queue_age_s))"
    )
    rows = query_rows(base, workspace, token, kql, window)
    value = rows[0].get("age_s") if rows else None
    return None if value is None else float(value)


def logs(query: LogQuery) -> list[LogLine]:
    """The runtime's lines from Azure Monitor Logs, filtered in KQL.

    Raises:
        svai.errors.ToolMissingError: no token or workspace.
        svai.errors.DeployError: the query failed.
    """
    token, workspace = credentials(os.environ)
    base = os.environ.get(ENDPOINT_VAR) or _ENDPOINT
    kql = request_lines(query.service, query.version)
    if query.request_id is not None:
        kql += f" | where tostring(e.request_id) == {json.dumps(query.request_id)}"
    if query.message is not None:
        kql += f" | where tostring(e.message) == {json.dumps(query.message)}"
    if query.level is not None:
        kql += f" | where tostring(e.severity) in ({', '.join(json.dumps(s) for s in query.severities())})"
    kql += f" | order by TimeGenerated asc | take {query.limit} | project TimeGenerated, line"
    rows = query_rows(base, workspace, token, kql, query.window)
    return [parse(millis(str(r.get("TimeGenerated", ""))), str(r.get("line", ""))) for r in rows]


COST_SOURCE = "Cost Management Query"
MANAGEMENT_ENDPOINT_VAR = "SVAI_AZURE_MANAGEMENT_ENDPOINT"
_MANAGEMENT = "https://management.azure.com"


def management_endpoint() -> str:
    """Azure Resource Manager's base URL, without a trailing slash (tests point it at a fake)."""
    return (os.environ.get(MANAGEMENT_ENDPOINT_VAR) or _MANAGEMENT).rstrip("/")


_COST_API_VERSION = "2023-11-01"


def cost(region: str, name: str, since: date, until: date) -> Answer:
    """Deployment ``name``'s actual cost this month: its resource group's, whatever the region.

    Raises:
        svai.errors.ToolMissingError: no subscription or token.
        svai.errors.DeployError: Cost Management refused the query or answered no cost column.
    """
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
    base = management_endpoint()
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
