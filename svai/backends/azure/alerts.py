"""Lower the plan's alarms onto Azure Monitor alerts.

Azure Monitor metric alerts aggregate by average, minimum, maximum, total or count only, so
latency percentiles, error *rates* and the runtime's own figures (cold starts, queue age, the
drift score) are log-search alerts (``scheduledQueryRules``); dead-lettered messages are a
platform metric of Service Bus and get a metric alert. Every alert calls the deployment's action group and is named
``<plan>-<alarm>``.

Where the numbers come from, per kind of app:

* Container Apps and Azure ML endpoints: the svai runtime writes one JSON line per request
  (``message: "request"``, ``status``, ``latency_ms``, ``cold_start``) and one per queued job
  (``queue_age_s``) to stdout; the environment's and the endpoint's diagnostic settings carry
  stdout to Log Analytics (``ContainerAppConsoleLogs``, ``AmlOnlineEndpointConsoleLog``), where
  the query parses those lines.
* Functions: the Functions host reports every invocation to Application Insights (``requests``,
  role name = the function app's name); the runtime's lines arrive there as ``traces``.
"""

from __future__ import annotations

from typing import Any

from svai.backends.azure import naming
from svai.backends.azure.blueprint import Ref
from svai.backends.azure.context import Context
from svai.backends.azure.messaging import QUEUE
from svai.backends.azure.services import (
    CONTAINER_APPS,
    FUNCTIONS_FLEX,
    app_name,
    offering_of,
)
from svai.ir import Alarm, DeploymentPlan, Service

__all__ = ["alert_query", "lower_alerts"]

_LINES = {
    CONTAINER_APPS: ("ContainerAppConsoleLogs", 'ContainerAppName == "{app}"', "Log"),
    FUNCTIONS_FLEX: ("traces", 'cloud_RoleName == "{app}"', "message"),
}
_ENDPOINT_LINES = ("AmlOnlineEndpointConsoleLog", '_ResourceId has "/onlineendpoints/{app}"')


def _watched(plan: DeploymentPlan, alarm: Alarm) -> Service:
    # Queue alarms watch the queue; its age is what the worker sees when it takes a job.
    name = "worker" if alarm.service == "queue" else alarm.service
    return next(s for s in plan.services if s.name == name)


def _runtime_lines(plan: DeploymentPlan, service: Service) -> str:
    """KQL rows of ``service``'s runtime log lines, parsed into the dynamic column ``e``."""
    offering, app = offering_of(service), app_name(plan, service)
    if offering in _LINES:
        table, where, column = _LINES[offering]
    else:
        (table, where), column = _ENDPOINT_LINES, "Message"
    return f"{table} | where {where.format(app=app)} | extend e = parse_json({column})"


def alert_query(plan: DeploymentPlan, alarm: Alarm) -> str:
    """Return the KQL that yields the alarm's value as column ``value`` (latency in ms)."""
    service = _watched(plan, alarm)
    metric = alarm.metric
    runtime_only = ("cold_start_rate", "queue_age", "drift")
    if offering_of(service) == FUNCTIONS_FLEX and metric not in runtime_only:
        rows = f'requests | where cloud_RoleName == "{app_name(plan, service)}"'
        latency, failed, throttled = "duration", "success == false", 'resultCode == "429"'
    else:
        rows = f'{_runtime_lines(plan, service)} | where tostring(e.message) == "request"'
        latency, failed, throttled = (
            "todouble(e.latency_ms)",
            "toint(e.status) >= 500",
            ("toint(e.status) == 429"),
        )
    share = "todouble(countif({})) / todouble(max_of(count(), 1))"
    if metric in ("latency_p95", "latency_p99"):
        pct = metric.rsplit("p", 1)[-1]
        return f"{rows} | summarize value = percentile({latency}, {pct})"
    if metric == "error_rate":
        return f"{rows} | summarize value = {share.format(failed)}"
    if metric == "throttles":
        return f"{rows} | summarize value = todouble(countif({throttled}))"
    if metric == "cold_start_rate":
        return f"{rows} | summarize value = {share.format('tobool(e.cold_start)')}"
    if metric == "queue_age":
        return (
            f"{_runtime_lines(plan, service)} | where isnotnull(e.queue_age_s) "
            "| summarize value = max(todouble(e.queue_age_s))"
        )
    if metric == "drift":
        return (
            f'{_runtime_lines(plan, service)} | where tostring(e.message) == "drift" '
            "| summarize value = max(todouble(e.drift_score))"
        )
    raise ValueError(f"no Azure alert query for metric {metric!r}")


def _scope(plan: DeploymentPlan, alarm: Alarm) -> Ref:
    """Application Insights for function apps; the Log Analytics workspace for the rest."""
    service = _watched(plan, alarm)
    return Ref("insights") if offering_of(service) == FUNCTIONS_FLEX else Ref("logs")


def _threshold(alarm: Alarm) -> float:
    # Plan latency thresholds are seconds; both sources report milliseconds.
    if alarm.metric in ("latency_p95", "latency_p99"):
        return alarm.threshold * 1000
    return alarm.threshold


def lower_alerts(ctx: Context) -> None:
    """Add one alert per plan alarm."""
    plan = ctx.plan
    group = ctx.logical("alerts")
    for alarm in plan.alarms:
        if alarm.metric == "dlq_depth":
            if plan.queue is None:
                continue
            ctx.add(
                "Alerts",
                group,
                f"alert:{alarm.name}",
                "azure-native:monitor:MetricAlert",
                ctx.logical("alert", alarm.name),
                _dlq_alert(ctx, alarm),
            )
            continue
        window = naming.duration(alarm.period_s)
        args: dict[str, Any] = ctx.located(
            rule_name=f"{plan.name}-{alarm.name}",
            description=(
                f"svai {plan.name} ({plan.model_version}): {alarm.metric} of {alarm.service}"
            ),
            kind="LogAlert",
            enabled=True,
            severity=2,
            scopes=[_scope(plan, alarm)],
            evaluation_frequency=window,
            window_size=window,
            criteria={
                "all_of": [
                    {
                        "query": alert_query(plan, alarm),
                        "time_aggregation": "Maximum",
                        "metric_measure_column": "value",
                        "operator": "GreaterThan",
                        "threshold": _threshold(alarm),
                        "failing_periods": {
                            "number_of_evaluation_periods": alarm.evaluation_periods,
                            "min_failing_periods_to_alert": alarm.evaluation_periods,
                        },
                    }
                ]
            },
            actions={"action_groups": [Ref("actions")]},
            auto_mitigate=True,
        )
        ctx.add(
            "Alerts",
            group,
            f"alert:{alarm.name}",
            "azure-native:monitor:ScheduledQueryRule",
            ctx.logical("alert", alarm.name),
            args,
        )


def _dlq_alert(ctx: Context, alarm: Alarm) -> dict[str, Any]:
    plan = ctx.plan
    return {
        "resource_group_name": ctx.rg,
        "location": "global",
        "tags": ctx.tags,
        "rule_name": f"{plan.name}-{alarm.name}",
        "description": f"svai {plan.name} ({plan.model_version}): dead-lettered jobs",
        "enabled": True,
        "severity": 1,
        "scopes": [Ref("namespace")],
        "evaluation_frequency": "PT1M",
        "window_size": naming.duration(max(60, alarm.period_s * alarm.evaluation_periods)),
        # ``criteria`` is a union type, so the SDK cannot rename keys: they are written as the
        # API spells them.
        "criteria": {
            "odataType": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
            "allOf": [
                {
                    "criterionType": "StaticThresholdCriterion",
                    "name": "dead-lettered",
                    "metricName": "DeadletteredMessages",
                    "metricNamespace": "Microsoft.ServiceBus/namespaces",
                    "dimensions": [
                        {"name": "EntityName", "operator": "Include", "values": [QUEUE]}
                    ],
                    "operator": "GreaterThanOrEqual",
                    "threshold": alarm.threshold,
                    "timeAggregation": "Maximum",
                }
            ],
        },
        "actions": [{"action_group_id": Ref("actions")}],
        "auto_mitigate": True,
    }
