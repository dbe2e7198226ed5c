"""Lower the plan's alarms onto Azure Monitor alerts.

Azure Monitor metric alerts aggregate by average, minimum, maximum, total or count only, so
latency percentiles, error *rates* and the runtime's own metrics (cold starts, queue age,
in-flight requests) are log-search alerts (``scheduledQueryRules``) over Application Insights;
dead-lettered messages are a platform metric of Service Bus and get a metric alert. Every alert
calls the deployment's action group and is named ``<plan>-<alarm>``.
"""

from __future__ import annotations

from typing import Any

from svai.backends.azure import naming
from svai.backends.azure.blueprint import Ref
from svai.backends.azure.context import Context
from svai.backends.azure.messaging import QUEUE
from svai.ir import Alarm

__all__ = ["alert_query", "lower_alerts"]

_RUNTIME_METRICS = {
    "cold_start_rate": "svai.cold_start",
    "queue_age": "svai.queue_age_s",
    "concurrency": "svai.inflight",
}
"""Custom metrics the svai runtime reports to Application Insights, by alarm metric."""


def alert_query(alarm: Alarm) -> str:
    """Return the KQL that yields the alarm's value as column ``value`` (latency in ms)."""
    role = f'cloud_RoleName == "{alarm.service}"'
    metric = alarm.metric
    if metric in ("latency_p95", "latency_p99"):
        pct = metric.rsplit("p", 1)[-1]
        return f"requests | where {role} | summarize value = percentile(duration, {pct})"
    if metric == "error_rate":
        return (
            f"requests | where {role} | summarize value = "
            "todouble(countif(success == false)) / todouble(max_of(count(), 1))"
        )
    if metric == "throttles":
        return f'requests | where {role} and resultCode == "429" | summarize value = count()'
    name = _RUNTIME_METRICS[metric]
    return f'customMetrics | where name == "{name}" | summarize value = max(value)'


def _threshold(alarm: Alarm) -> float:
    # Plan latency thresholds are seconds; Application Insights durations are milliseconds.
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
            scopes=[Ref("insights")],
            evaluation_frequency=window,
            window_size=window,
            criteria={
                "all_of": [
                    {
                        "query": alert_query(alarm),
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
