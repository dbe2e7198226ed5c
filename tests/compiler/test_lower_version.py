"""Lowering to the cloud-neutral plan, and the model version id."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from svai.compiler.lower import lower
from svai.compiler.recommend import recommend
from svai.compiler.version import model_version
from svai.errors import UsageError
from svai.ir import to_dict
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec

SPEC = """
version: 1
name: scorer
model:
  artifact: model.onnx
  framework: onnx
  size: 40MB
  inference_time: {service}
  preprocess: src/pre.py:prepare
  prompt_templates: [prompts/system.txt]
api: {{mode: {mode}, timeout: 30s}}
latency: {{p95: 200ms, p99: 500ms}}
traffic: {{pattern: steady, baseline_rps: 5}}
reliability: {{job_timeout: 2m, max_receive_count: 6}}
rollout: {{strategy: canary, steps: [10, 50, 100], rollback_on: {{error_rate: 0.02}}}}
security:
  secrets:
    API_TOKEN: {{aws: prod/api-token, gcp: api-token}}
observability: {{budget_usd_month: 120, alert_email: ops@example.com}}
targets:
  - {{cloud: aws, region: us-east-1}}
  - {{cloud: gcp, region: us-central1}}
"""


def project(tmp_path: Path, *, pre: str = "def prepare(x):\n    return x\n") -> Path:
    (tmp_path / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "src" / "pre.py").write_text(pre)
    (tmp_path / "prompts" / "system.txt").write_text("You are helpful.\n")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07fake-onnx-bytes")
    return tmp_path


def spec(mode: str = "sync", service: str = "20ms") -> ResolvedSpec:
    return resolve(load_spec_text(SPEC.format(mode=mode, service=service)))


def test_version_is_stable_and_changes_with_every_input(tmp_path: Path) -> None:
    base = project(tmp_path)
    s = spec()
    first = model_version(s, base)
    assert first == model_version(s, base)
    assert first.startswith("v-") and len(first) == 14

    (base / "model.onnx").write_bytes(b"\x08\x07other-bytes")
    changed_model = model_version(s, base)
    (base / "src" / "pre.py").write_text("def prepare(x):\n    return {'inputs': x}\n")
    changed_code = model_version(s, base)
    (base / "prompts" / "system.txt").write_text("You are terse.\n")
    changed_prompt = model_version(s, base)
    changed_config = model_version(spec(service="25ms"), base)
    ids = {first, changed_model, changed_code, changed_prompt, changed_config}
    assert len(ids) == 5


def test_a_model_rewritten_in_place_with_the_same_size_gets_a_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model's digest is read once per process while the file is unchanged; any rewrite,
    # even to bytes of the same length, must be read again.
    base = project(tmp_path)
    model = base / "model.onnx"
    reads: list[Path] = []
    opened = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == model:
            reads.append(self)
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    first = model_version(spec(), base)
    assert model_version(spec(), base) == first and len(reads) == 1
    data = model.read_bytes()
    stat = model.stat()
    model.write_bytes(bytes(reversed(data)))
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    before = len(reads)  # read_bytes/write_bytes above open the file too
    assert model_version(spec(), base) != first and len(reads) == before + 1


def test_version_does_not_depend_on_where_the_project_lives(tmp_path: Path) -> None:
    a = project(tmp_path / "a")
    b = project(tmp_path / "b")
    assert model_version(spec(), a) == model_version(spec(), b)


def test_version_refuses_a_missing_hook_file(tmp_path: Path) -> None:
    base = project(tmp_path)
    (base / "src" / "pre.py").unlink()
    with pytest.raises(UsageError, match=r"model.preprocess: src/pre.py does not exist"):
        model_version(spec(), base)


def plan_for(mode: str, cloud: str = "aws", service: str = "20ms", **kwargs: object):  # type: ignore[no-untyped-def]
    s = spec(mode, service)
    rec = recommend(s)
    index = [t.cloud for t in s.targets].index(cloud)
    return lower(s, s.targets[index], rec.targets[index], "v-000000000001", **kwargs)  # type: ignore[arg-type]


def test_sync_plan_shape() -> None:
    plan = plan_for("sync")
    assert plan.mode == "sync"
    assert [s.role for s in plan.services] == ["api"]
    assert plan.queue is None
    assert plan.entry.routes == (("POST", "/predict", "api"), ("GET", "/openapi.json", "api"))
    assert {s.name for s in plan.stores} == {"idempotency", "cache"}
    assert ("svai-model-version", "v-000000000001") in plan.tags
    assert plan.budget is not None and plan.budget.monthly_usd == 120
    assert plan.budget.email == "ops@example.com"
    assert [s.ref for s in plan.secrets] == ["prod/api-token"]
    api = plan.identities[0]
    actions = {(p.action, p.resource) for p in api.permissions}
    assert ("secret.read", "secret:API_TOKEN") in actions
    assert ("artifact.read", "artifact") in actions
    assert not any(p.action.startswith("queue") for p in api.permissions)
    metrics = {a.metric for a in plan.alarms}
    assert {"latency_p95", "latency_p99", "error_rate", "throttles"} <= metrics


def test_async_plan_shape_and_queue_timing() -> None:
    plan = plan_for("async", service="20s")
    assert [s.role for s in plan.services] == ["submit", "status", "worker"]
    assert plan.queue is not None
    worker = plan.service("worker")
    assert plan.queue.visibility_timeout_s >= 6 * worker.compute.timeout_s
    assert plan.queue.max_receive_count == 6
    assert {a.metric for a in plan.alarms} >= {"dlq_depth", "queue_age"}
    perms = {i.service: {p.action for p in i.permissions} for i in plan.identities}
    assert "queue.send" in perms["submit"] and "queue.consume" not in perms["submit"]
    assert "queue.consume" in perms["worker"] and "queue.send" not in perms["worker"]
    assert perms["status"] >= {"store.read"} and "store.write" not in perms["status"]


def test_canary_split_follows_the_steps() -> None:
    splits = [
        [
            (t.version, t.percent)
            for t in plan_for("sync", previous_version="v-old", step_index=i).rollout.split
        ]
        for i in range(3)
    ]
    assert splits == [
        [("v-old", 90), ("v-000000000001", 10)],
        [("v-old", 50), ("v-000000000001", 50)],
        [("v-000000000001", 100)],
    ]


def test_missing_secret_reference_for_a_cloud_is_a_clear_error() -> None:
    s = spec()
    s = dataclasses.replace(
        s, targets=(*s.targets, dataclasses.replace(s.targets[0], cloud="azure", region="eastus"))
    )
    rec = recommend(s)
    with pytest.raises(UsageError, match="API_TOKEN has no `azure` reference"):
        lower(s, s.targets[2], rec.targets[2], "v-1")


def test_lowering_is_deterministic() -> None:
    assert to_dict(plan_for("async", service="20s")) == to_dict(plan_for("async", service="20s"))
