"""The GCP and Azure plans of the claim check (issue #24), recorded under Pulumi mocks.

The runtime side (a 20 MB job through the emulators) is ``tests/runtimes/gcp/
test_gcp_claim_check.py`` and ``tests/runtimes/azure/test_azure_claim_check.py``; this checks
that each plan gives it what it needs and nothing more: the bucket on the front and the worker,
the queue's limit from the catalog on the front, grants narrowed to the payload prefix, and a
lifecycle rule on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from plans import async_plan, sync_plan

from svai.backends import claims
from svai.backends.azure import AzureBackend
from svai.backends.gcp import GcpBackend
from svai.backends.gcp import tokens as T
from svai.backends.preview import record
from svai.compiler.catalog import load_catalog

POLICY = "azure-native:storage:ManagementPolicy"


def _gcp_env(resource: Any) -> dict[str, str]:
    if resource.type == T.FUNCTION:
        return dict(resource.inputs["serviceConfig"]["environmentVariables"])
    (container,) = resource.inputs["template"]["containers"]
    return {e["name"]: e["value"] for e in container["envs"] if "value" in e}


def test_gcp_async_plan_builds_the_claim_check() -> None:
    plan = async_plan("gcp", "gcp.cloudrun.service")
    resources = record(lambda: GcpBackend(billing_account="0-0-0").program(plan))
    (bucket,) = [r for r in resources if r.type == T.BUCKET]
    rules = bucket.inputs["lifecycleRules"]
    assert {r["action"]["type"] for r in rules} == {"Delete"}
    assert all(r["condition"]["matchesPrefixes"] == ["jobs/payloads/"] for r in rules)
    assert rules[0]["condition"]["age"] == claims.expiry_days(plan)
    envs = {r.name: _gcp_env(r) for r in resources if r.type in (T.RUN_SERVICE, T.FUNCTION)}
    with_bucket = sorted(n for n, env in envs.items() if claims.PAYLOAD_BUCKET_ENV in env)
    assert with_bucket in (["svc-submit", "svc-worker"], ["fn-submit", "svc-worker"])
    limits = {n: env.get(claims.MESSAGE_BYTES_ENV) for n, env in envs.items()}
    (front,) = [n for n, v in limits.items() if v is not None]
    assert "submit" in front
    assert int(limits[front] or 0) == load_catalog().queue_message_limit("gcp")[0]
    grants = {
        r.name: r.inputs
        for r in resources
        if r.type == T.BUCKET_IAM and r.name.endswith("-job-payloads")
    }
    assert {g["role"] for g in grants.values()} == {
        "roles/storage.objectUser",
        "roles/storage.objectViewer",
    }
    for grant in grants.values():
        assert grant["condition"]["expression"].endswith('/objects/jobs/payloads/")')


def test_azure_async_plan_builds_the_claim_check() -> None:
    plan = async_plan("azure", "azure.containerapps.consumption")
    resources = record(lambda: AzureBackend(today=lambda: dt.date(2026, 11, 27)).program(plan))
    (policy,) = [r for r in resources if r.type == POLICY]
    (rule,) = policy.inputs["policy"]["rules"]
    assert rule["definition"]["filters"]["prefixMatch"] == ["artifacts/jobs/payloads/"]
    delete = rule["definition"]["actions"]["baseBlob"]["delete"]
    assert delete["daysAfterModificationGreaterThan"] == claims.expiry_days(plan)
    text = {r.name: json.dumps(r.inputs) for r in resources}
    with_bucket = sorted(n for n, t in text.items() if claims.PAYLOAD_BUCKET_ENV in t)
    assert all("submit" in n or "worker" in n for n in with_bucket) and len(with_bucket) == 2
    limit = load_catalog().queue_message_limit("azure")[0]
    assert [n for n, t in text.items() if f'"value": "{limit}"' in t] == [
        n for n in with_bucket if "submit" in n
    ]
    (grant,) = [r for r in resources if r.name.endswith("-job-payloads")]
    assert "submit" in grant.name
    assert grant.inputs["condition"].endswith("StringStartsWith 'jobs/payloads/'))")


def test_azure_private_plan_gives_the_front_premiums_limit() -> None:
    plan = dataclasses.replace(
        async_plan("azure", "azure.containerapps.consumption"), private_network=True
    )
    resources = record(lambda: AzureBackend(today=lambda: dt.date(2026, 11, 27)).program(plan))
    premium = load_catalog().queue_message_limit("azure", private=True)[0]
    assert premium > load_catalog().queue_message_limit("azure")[0]
    assert any(f'"value": "{premium}"' in json.dumps(r.inputs) for r in resources)


def test_sync_plans_have_no_claim_check() -> None:
    gcp = record(lambda: GcpBackend(billing_account="0-0-0").program(sync_plan("gcp")))
    (bucket,) = [r for r in gcp if r.type == T.BUCKET]
    assert "lifecycleRules" not in bucket.inputs
    azure = record(
        lambda: AzureBackend(today=lambda: dt.date(2026, 11, 27)).program(
            sync_plan("azure", "azure.containerapps.consumption")
        )
    )
    assert not [r for r in azure if r.type == POLICY]
    for resources in (gcp, azure):
        assert not any(claims.PAYLOAD_BUCKET_ENV in json.dumps(r.inputs) for r in resources)
