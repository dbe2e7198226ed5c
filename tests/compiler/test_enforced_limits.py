"""Every request limit of the plan says where it is enforced, and the runtime gets the same figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from svai.build.config import runtime_config
from svai.compiler.lower import lower
from svai.compiler.recommend import recommend
from svai.spec import load_spec_text, resolve

SPEC = """
version: 1
name: scorer
model: {{artifact: model.onnx, framework: onnx, size: 4MB, inference_time: 5ms}}
api: {{mode: {mode}, timeout: 5s, auth: {auth}, max_payload: 64KB{rate}}}
traffic: {{pattern: steady, baseline_rps: 20}}
tenancy: {{enabled: true, header: X-Merchant-Id, rate_limit_rps: 2.5}}
targets:
  - {{cloud: aws, region: us-east-1}}
  - {{cloud: gcp, region: us-central1, runtime: container}}  # Cloud Run behind API Gateway
  - {{cloud: azure, region: eastus}}
"""


def plans(auth: str, mode: str = "sync", rate: str = ", rate_limit: 40") -> dict[str, object]:
    if auth == "jwt":
        rate += ", jwt: {issuer: 'https://issuer.example.com/', audience: scorer}"
    spec = resolve(load_spec_text(SPEC.format(auth=auth, mode=mode, rate=rate)))
    recs = recommend(spec)
    out: dict[str, object] = {}
    for target, rec in zip(spec.targets, recs.targets, strict=True):
        out[target.cloud] = (spec, rec, lower(spec, target, rec, "mv-1"))
    return out


@pytest.mark.parametrize(
    ("auth", "edge"),
    [
        ("api-key", {"aws": "instance", "gcp": "both", "azure": "instance"}),  # AWS refuses it
        ("jwt", {"aws": "both", "gcp": "instance", "azure": "instance"}),
        ("iam", {"aws": "both", "gcp": "instance", "azure": "instance"}),
    ],
)
def test_each_limit_states_where_it_is_enforced(auth: str, edge: dict[str, str]) -> None:
    for cloud, (_, _, plan) in plans(auth).items():  # type: ignore[misc]
        limits = {limit.name: limit for limit in plan.entry.limits}
        assert set(limits) == {"payload", "rate", "tenant_rate"}
        assert limits["payload"].enforced == "instance" and limits["payload"].value == 64_000
        rate = limits["rate"]
        assert (rate.enforced, rate.value, rate.burst) == (edge[cloud], 40.0, 80), cloud
        assert (rate.value, rate.burst) == (plan.entry.rate_limit_rps, plan.entry.burst)
        n = plan.services[0].compute.max_instances
        assert f"each of up to {n} instances admits 40 req/s" in rate.note
        assert f"up to {n * 40:g} req/s in all" in rate.note
        assert ("the edge holds the deployment to 40 req/s" in rate.note) == (edge[cloud] == "both")
        tenant = limits["tenant_rate"]
        assert (tenant.enforced, tenant.value, tenant.burst) == ("instance", 2.5, 3)


def test_the_runtime_config_carries_the_planned_rates(tmp_path: Path) -> None:
    for mode in ("sync", "async"):
        for cloud, (spec, rec, plan) in plans("api-key", mode, rate="").items():  # type: ignore[misc]
            config = runtime_config(spec, tmp_path, "mv-1", rec)  # type: ignore[arg-type]
            limits = {limit.name: limit for limit in plan.entry.limits}
            assert config["rate_limit"] == {
                "rps": limits["rate"].value,  # sized from the traffic: the spec sets none
                "burst": limits["rate"].burst,
                "tenant_rps": 2.5,
                "tenant_burst": 3,
            }, (cloud, mode)
