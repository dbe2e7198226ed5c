"""Drift summaries from a real served model under load (HTTP server on 127.0.0.1).

The digits forest is served with drift on two pixel columns and the predicted label, binned from
a baseline of 600 training rows (with the forest's labels) as ``svai build`` bins them. Four
clients send the 397 held-out rows; the drift lines the server writes must account for every request exactly, in
fixed bins, and added up (as ``svai drift`` adds live lines) show no drift. The same load with
the columns shifted must be flagged for those columns.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from svai.compiler.drift import Sample, bins_of, compare, counts
from svai.runtime.core.drift import Bins
from svai.signals.drift import merge
from svai.signals.logs import parse
from svai.spec import load_spec_text, resolve

FEATURES = ("inputs.*.20", "inputs.*.36")
PREDICTION = "label.*"
SPEC = f"""\
version: 1
name: digits
model: {{artifact: model.onnx, framework: onnx}}
traffic: {{pattern: steady, baseline_rps: 5}}
observability:
  drift:
    enabled: true
    sample_rate: 1.0
    baseline: baseline.jsonl
    features: ["{FEATURES[0]}", "{FEATURES[1]}"]
    prediction: "{PREDICTION}"
    min_samples: 20
    threshold: {{psi: 0.25, ks: 0.15}}
targets:
  - {{cloud: aws, region: us-east-1}}
"""


def section(path: str, values: list[Any]) -> dict[str, Any]:
    spec = bins_of(values)
    assert spec is not None
    bins = Bins(path, spec)
    return {**spec, "baseline": counts(bins, values), "psi": 0.25, "ks": 0.15}


def load(s: Any, rows: list[list[float]], clients: int = 4) -> None:
    def client(part: list[list[float]]) -> None:
        for row in part:
            status, _, _ = s.request("POST", "/predict", {"inputs": [row]})
            assert status == 200

    threads = [threading.Thread(target=client, args=(rows[n::clients],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_summaries_under_load_count_every_request_and_flag_only_a_shift(
    make_artifact: Any, digits: Any, serve: Any, tmp_path: Path
) -> None:
    from sklearn.datasets import load_digits

    from svai.runtime.core import load_config
    from svai.runtime.core.tasks import load_task_model

    x = load_digits().data.astype(float)
    base_rows, live_rows = x[:600].tolist(), x[1400:].tolist()
    cfg = load_config(make_artifact())
    model = load_task_model(cfg.model, cfg.resolve(cfg.model.path), None)
    labels = [int(model.run_batch([model.to_feeds([r])])[0]["label"][0]) for r in base_rows]
    baseline = Sample(
        len(base_rows),
        {f: [r[int(f.rsplit(".", 1)[1])] for r in base_rows] for f in FEATURES},
        labels,
    )
    drift = {
        "enabled": True,
        "sample_rate": 1.0,
        "interval_s": 0.001,  # a line as soon as a window holds min_samples
        "min_samples": 20,
        "features": {f: section(f, baseline.values[f]) for f in FEATURES},
        "prediction": {"name": PREDICTION, **section(PREDICTION, labels)},
    }
    spec = resolve(load_spec_text(SPEC))
    reports = {}
    shifted_rows = [[*r[:20], 16.0, *r[21:]] for r in live_rows]
    for name, rows in (("same", live_rows), ("shifted", shifted_rows)):
        with serve(make_artifact({"drift": drift})) as s:
            load(s, rows)
            lines = s.lines
        drift_lines = [r for r in lines.records if r.get("message") == "drift"]
        # Every request is in exactly one window; every window but the last was judged.
        assert sum(r["drift_samples"] for r in drift_lines) == len(rows)
        assert all("drift_score" in r for r in drift_lines[:-1]) and len(drift_lines) >= 2
        for record in drift_lines:
            declared = record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            assert {"Name": "drift_samples", "Unit": "Count"} in declared
            for summary in record["features"].values():
                assert sum(summary["bins"]) == summary["count"] == record["drift_samples"]
            assert record["prediction"]["name"] == PREDICTION
        merged = merge(parse(0, r) for r in drift_lines)
        assert merged["_samples"] == len(rows)
        reports[name] = compare(spec, baseline, summaries=merged, source=name)
    same, shifted = reports["same"], reports["shifted"]
    assert same.flagged == () and same.samples == len(live_rows)
    assert shifted.flagged[0] == FEATURES[0] and FEATURES[1] not in shifted.flagged
    column = next(f for f in shifted.features if f.name == FEATURES[0])
    assert column.psi > 0.2 and column.ks is not None and column.ks > 0.1
    assert column.mean == 16.0
