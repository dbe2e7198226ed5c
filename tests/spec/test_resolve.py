"""``resolve()``: units become seconds and bytes, defaults are decided, the result is frozen."""

from __future__ import annotations

import dataclasses

import pytest
from spec_corpus import CASES

from svai.spec import load_spec, load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec

MINIMAL = """\
version: 1
name: tiny
model: {artifact: model/model.onnx, framework: onnx}
traffic: {pattern: steady, baseline_rps: 5}
targets: [{cloud: gcp, region: us-central1}]
"""


def resolved(text: str) -> ResolvedSpec:
    return resolve(load_spec_text(text))


def test_full_spec_units_become_seconds_and_bytes() -> None:
    r = resolve(load_spec(CASES / "valid-full.yaml"))
    m = r.model
    assert (m.artifact, m.revision, m.artifact_scheme) == (
        "hf://sentence-transformers/all-MiniLM-L6-v2",
        "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        "hf",
    )
    assert (m.size_bytes, m.memory_bytes) == (90_000_000, 512 * 1024**2)
    assert (m.load_time_s, m.inference_time_s) == pytest.approx((1.5, 0.008))
    assert (m.quantize, m.max_accuracy_drop) == ("int8", 0.02)
    assert (m.fallback_rules, m.fallback_after_s) == ("src/rules.py:answer", pytest.approx(0.1))
    assert (r.api.max_payload_bytes, r.api.timeout_s) == (256_000, 10.0)
    assert (r.api.jwt_issuer, r.api.jwt_audience) == ("https://login.example.com/", "doc-embed")
    assert (r.latency.p50_s, r.latency.p95_s, r.latency.p99_s) == pytest.approx((0.01, 0.05, 0.12))
    t = r.traffic
    assert (t.pattern, t.peak_rps, t.peak_duration_s, t.idle_hours) == ("diurnal", 80, 14_400, 6)
    assert t.payload_bytes == 2000
    assert (r.cache.ttl_s, r.cache.key) == (
        7 * 86_400,
        ("tenant", "model_version", "payload", "header:X-Lang"),
    )
    rel = r.reliability
    assert (rel.backoff_base_s, rel.backoff_max_s, rel.job_timeout_s) == pytest.approx((0.1, 5, 60))
    assert rel.idempotency_ttl_s == 48 * 3600
    ro = r.rollout
    assert (ro.steps, ro.interval_s, ro.rollback_p99_s) == ((10, 50, 100), 600, pytest.approx(0.2))
    assert ro.gates is not None and ro.gates.p95_s == pytest.approx(0.04)
    assert [s.env for s in r.security.secrets] == ["API_TOKEN"]
    assert r.observability.alarm_p95_s == pytest.approx(0.06)
    assert r.observability.log_retention_days == 30
    assert [(x.cloud, x.account, x.runtime) for x in r.targets] == [
        ("aws", "123456789012", "faas"),
        ("gcp", "acme-ml", "container"),
        ("azure", "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "endpoint"),
    ]
    assert (r.targets[2].memory_bytes, r.targets[2].min_instances) == (4 * 1024**3, 1)


def test_defaults_are_filled() -> None:
    r = resolved(MINIMAL)
    assert r.model.artifact_scheme == "local"
    assert (r.api.mode, r.api.max_payload_bytes, r.api.timeout_s, r.api.auth) == (
        "auto",
        1_000_000,
        30.0,
        "iam",
    )
    assert r.reliability.job_timeout_s == 30.0  # defaults to api.timeout
    assert (r.latency.p95_s, r.observability.alarm_p95_s) == (None, None)
    assert (r.rollout.strategy, r.rollout.steps) == ("all-at-once", (100,))
    assert (r.cache.enabled, r.cache.ttl_s) == (True, 3600)
    assert (r.gpu.required, r.gpu.type, r.gpu.count) == (False, "any", 1)
    assert r.observability.log_retention_days == 30
    assert r.tenancy.enabled is False


def test_alarms_default_to_the_latency_targets_and_job_timeout_to_its_own() -> None:
    text = MINIMAL + "latency: {p95: 200ms, p99: 1s}\nreliability: {job_timeout: 2m}\n"
    r = resolved(text)
    assert (r.observability.alarm_p95_s, r.observability.alarm_p99_s) == pytest.approx((0.2, 1.0))
    assert r.reliability.job_timeout_s == 120


def test_inline_hf_revision_is_parsed() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    text = MINIMAL.replace(
        "{artifact: model/model.onnx, framework: onnx}",
        f"{{artifact: 'hf://org/name@{commit}/onnx/model.onnx', framework: transformers}}",
    )
    m = resolved(text).model
    assert (m.revision, m.artifact_scheme) == (commit, "hf")
    assert (m.source.container, m.source.path, m.source.folder) == (
        "org/name",
        "onnx/model.onnx",
        False,
    )


def test_resolve_is_pure_and_frozen() -> None:
    spec = load_spec(CASES / "valid-full.yaml")
    first, second = resolve(spec), resolve(spec)
    assert first == second
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.name = "other"  # type: ignore[misc]
