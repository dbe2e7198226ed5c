"""The runtime's metrics, the deployment's alarms and the signal readers name the same series.

The AWS cold-start alarm once watched ``svai/<name>`` ``ColdStart`` by ``Service`` while the
runtime wrote ``svai`` ``cold_starts`` by ``service``/``model_version``: an alarm that could
never fire. Here the fraud example's built runtime config writes a real request line (and, its
drift monitor fed from its eval set, a real drift line), and every svai-namespace alarm in its
AWS plan must name a metric and a dimension set those lines declare.
"""

from __future__ import annotations

import json
from pathlib import Path

from svai import api
from svai.build.config import runtime_config
from svai.compiler.version import model_version
from svai.runtime.core.config import DriftConfig
from svai.runtime.core.drift import DriftMonitor
from svai.runtime.core.telemetry import Telemetry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fraud-sklearn" / "svai.yaml"


def test_every_svai_alarm_watches_a_series_the_runtime_writes() -> None:
    loaded, result = api.plan(EXAMPLE)
    spec = loaded.resolved
    version = model_version(spec, loaded.base_dir)
    config = runtime_config(spec, loaded.base_dir, version, None)
    observability = config["observability"]
    lines: list[str] = []
    telemetry = Telemetry(
        observability["namespace"], observability["service"], version, sink=lines.append
    )
    telemetry.request(
        request_id="r1",
        status=200,
        latency_ms=5.0,
        model_ms=2.0,
        input_hash=None,
        cold_start=True,
        cache="miss",
        fallback=False,
    )
    drift = DriftMonitor(DriftConfig(**{**config["drift"], "sample_rate": 1.0}), telemetry.metrics)
    eval_set = (EXAMPLE.parent / "eval" / "holdout.jsonl").read_text().splitlines()
    for line in eval_set[: drift.min_samples]:
        drift.observe(json.loads(line)["input"], b"{}")
    drift.flush()
    records = [json.loads(line) for line in lines]
    assert [r["message"] for r in records] == ["request", "drift"]
    record = records[0]
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    written = {m["Name"] for r in records for m in r["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {r["_aws"]["CloudWatchMetrics"][0]["Namespace"] for r in records} == {
        directive["Namespace"]
    }
    dimension_sets = {tuple(sorted(d)) for d in directive["Dimensions"]}

    alarms = [
        r
        for t in result.targets
        for r in t.resources
        if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
        and str(r.inputs.get("namespace", "")).startswith("svai")
    ]
    assert alarms, "the example declares a cold_start_rate alarm on AWS"
    for alarm in alarms:
        assert alarm.inputs["namespace"] == directive["Namespace"]
        assert alarm.inputs["metricName"] in written
        dimensions = alarm.inputs["dimensions"]
        assert tuple(sorted(dimensions)) in dimension_sets
        assert all(record[k] == v for k, v in dimensions.items())
