"""The AWS plan of the claim check (issue #24), recorded under Pulumi mocks.

The runtime side (a 20 MB job through moto) is ``tests/runtimes/test_claim_check.py``; this
checks that the plan gives it what it needs and nothing more: the bucket variable on the submit
and worker functions, one S3 action each on the payload prefix, and a lifecycle rule on it.
"""

from __future__ import annotations

import json

from svai.backends.aws import AwsBackend
from svai.backends.preview import record
from tests.backends.plans import async_plan, sync_plan

LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


def test_async_plan_builds_the_claim_check_with_one_action_per_role() -> None:
    plan = async_plan("aws")
    resources = record(lambda: AwsBackend().program(plan))
    (lifecycle,) = [r for r in resources if r.type == LIFECYCLE]
    (rule,) = lifecycle.inputs["rules"]
    assert rule["filter"]["prefix"] == "jobs/payloads/" and rule["status"] == "Enabled"
    assert rule["expiration"]["days"] == -(-plan.queue.retention_s // 86_400) + 1  # type: ignore[union-attr]
    functions = {
        r.name: r.inputs["environment"]["variables"]
        for r in resources
        if r.type == "aws:lambda/function:Function"
    }
    with_bucket = sorted(n for n, env in functions.items() if "SVAI_PAYLOAD_BUCKET" in env)
    assert with_bucket and all(("submit" in n or "worker" in n) for n in with_bucket)
    assert not any("status" in n for n in with_bucket)
    grants = {
        r.name: json.loads(r.inputs["policy"])["Statement"]
        for r in resources
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name.endswith("-job-payloads")
    }
    actions = {name: statements[0]["Action"] for name, statements in grants.items()}
    assert sorted(actions.values()) == [["s3:GetObject"], ["s3:PutObject"]]
    for statements in grants.values():
        assert statements[0]["Resource"][0].endswith("/jobs/payloads/*")


def test_a_sync_plan_has_no_claim_check() -> None:
    resources = record(lambda: AwsBackend().program(sync_plan("aws")))
    assert not [r for r in resources if r.type == LIFECYCLE]
