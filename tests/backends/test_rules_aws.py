"""The AWS rules: defaults pass, and one mutant per rule makes exactly that rule fire."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from svai.backends.aws import AwsBackend
from svai.backends.aws.rules import RULES
from svai.backends.base import Finding, RecordedResource, Rule
from svai.backends.preview import record
from svai.backends.rules import RULE_ID, cloud_of, evaluate, fail, get_path
from svai.ir import DeploymentPlan
from tests.backends.mutants import record_once_under_mutmut, set_path
from tests.backends.plans import async_plan, sync_plan

Recorded = tuple[RecordedResource, ...]
Inputs = dict[str, Any]


def _bigger_jobs(plan: DeploymentPlan, payload: int) -> DeploymentPlan:
    return dataclasses.replace(
        plan, entry=dataclasses.replace(plan.entry, max_payload_bytes=payload)
    )


BASES: dict[str, DeploymentPlan] = {
    "sync": sync_plan("aws"),
    "async": async_plan("aws"),
    "image": sync_plan("aws", "aws.lambda.image"),
    "realtime": sync_plan("aws", "aws.sagemaker.realtime"),
    # The spec asks for a private network, which the AWS backend does not build yet: the plan
    # itself is the mutant of SVAI_AWS_034.
    "private": dataclasses.replace(sync_plan("aws"), private_network=True),
    # A declared egress (issue #24): the functions in a VPC with endpoints and no NAT.
    "egress": dataclasses.replace(sync_plan("aws"), egress="private-only"),
    "egress-async": dataclasses.replace(async_plan("aws"), egress="none"),
    # 20 MB jobs: the claim check (lifecycle rule, bucket variable) carries them.
    "big-jobs": _bigger_jobs(async_plan("aws"), 20 * 2**20),
}


@cache
def recorded(key: str) -> Recorded:
    return record(lambda: AwsBackend().program(BASES[key]))


record_once_under_mutmut(recorded, BASES)


@pytest.fixture(scope="module")
def base() -> dict[str, Recorded]:
    return {key: recorded(key) for key in BASES}


def edit(
    resources: Recorded, token: str, change: Callable[[Inputs], None], name: str | None = None
) -> Recorded:
    """Apply ``change`` to the inputs of the first resource of ``token`` (called ``name``)."""
    out = list(resources)
    for index, resource in enumerate(out):
        if resource.type == token and (name is None or resource.name == name):
            inputs = copy.deepcopy(dict(resource.inputs))
            change(inputs)
            out[index] = dataclasses.replace(resource, inputs=inputs)
            return tuple(out)
    raise AssertionError(f"no {token} {name or ''} recorded")


def drop(resources: Recorded, token: str) -> Recorded:
    kept = tuple(r for r in resources if r.type != token)
    assert len(kept) < len(resources)
    return kept


def add(resources: Recorded, resource: RecordedResource) -> Recorded:
    return (*resources, resource)


def pop(key: str) -> Callable[[Inputs], None]:
    return lambda inputs: inputs.pop(key)


def redrive(**changes: Any) -> Callable[[Inputs], None]:
    def change(inputs: Inputs) -> None:
        inputs["redrivePolicy"] = json.dumps({**json.loads(inputs["redrivePolicy"]), **changes})

    return change


def add_statement(statement: dict[str, Any]) -> Callable[[Inputs], None]:
    def change(inputs: Inputs) -> None:
        policy = json.loads(inputs["policy"])
        policy["Statement"].append(statement)
        inputs["policy"] = json.dumps(policy)

    return change


QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TABLE = "aws:dynamodb/table:Table"
STAGE = "aws:apigatewayv2/stage:Stage"
REPO = "aws:ecr/repository:Repository"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ADMIN = RecordedResource(
    type="aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    name="sentiment-api-admin",
    inputs={"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "role": "r"},
)

# rule id -> (base, mutation of the recorded resources)
MUTANTS: dict[str, tuple[str, Callable[[Recorded], Recorded]]] = {
    "SVAI_AWS_001": ("async", lambda r: edit(r, QUEUE, pop("kmsMasterKeyId"), "summarize-jobs")),
    "SVAI_AWS_002": (
        "sync",
        lambda r: edit(
            r,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            set_path("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
        ),
    ),
    "SVAI_AWS_003": (
        "sync",
        lambda r: edit(r, TABLE, set_path("serverSideEncryption.enabled", False)),
    ),
    "SVAI_AWS_004": ("sync", lambda r: edit(r, LOG_GROUP, pop("kmsKeyId"))),
    "SVAI_AWS_005": ("sync", lambda r: edit(r, LOG_GROUP, pop("retentionInDays"))),
    "SVAI_AWS_006": ("async", lambda r: edit(r, QUEUE, pop("redrivePolicy"), "summarize-jobs")),
    "SVAI_AWS_007": (
        "async",
        lambda r: edit(r, QUEUE, set_path("visibilityTimeoutSeconds", 300), "summarize-jobs"),
    ),
    "SVAI_AWS_008": (
        "async",
        lambda r: edit(r, QUEUE, redrive(maxReceiveCount=2), "summarize-jobs"),
    ),
    "SVAI_AWS_009": (
        "sync",
        lambda r: edit(
            r,
            POLICY,
            add_statement(
                {
                    "Effect": "Allow",
                    "Action": ["s3:*"],
                    "Resource": "arn:aws:s3:::sentiment-artifacts",
                }
            ),
        ),
    ),
    "SVAI_AWS_010": (
        "sync",
        lambda r: edit(
            r,
            POLICY,
            add_statement({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}),
        ),
    ),
    "SVAI_AWS_011": ("sync", lambda r: add(r, ADMIN)),
    "SVAI_AWS_012": (
        "sync",
        lambda r: edit(r, "aws:apigatewayv2/route:Route", set_path("authorizationType", "NONE")),
    ),
    "SVAI_AWS_013": (
        "sync",
        lambda r: tuple(x for x in r if x.name != "sentiment-latency-p99"),
    ),
    "SVAI_AWS_014": ("sync", lambda r: edit(r, FUNCTION, pop("reservedConcurrentExecutions"))),
    "SVAI_AWS_015": (
        "sync",
        lambda r: edit(
            r,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            set_path("ignorePublicAcls", False),
        ),
    ),
    "SVAI_AWS_016": (
        "sync",
        lambda r: edit(
            r,
            "aws:s3/bucketVersioning:BucketVersioning",
            set_path("versioningConfiguration.status", "Suspended"),
        ),
    ),
    "SVAI_AWS_017": (
        "sync",
        lambda r: edit(r, "aws:kms/key:Key", set_path("enableKeyRotation", False)),
    ),
    "SVAI_AWS_018": ("sync", lambda r: drop(r, "aws:s3/bucketPolicy:BucketPolicy")),
    "SVAI_AWS_019": ("sync", lambda r: edit(r, "aws:sns/topic:Topic", pop("kmsMasterKeyId"))),
    "SVAI_AWS_020": (
        "sync",
        lambda r: edit(r, FUNCTION, set_path("environment.variables.HF_TOKEN", "hf_plaintext")),
    ),
    "SVAI_AWS_021": ("sync", lambda r: edit(r, FUNCTION, pop("kmsKeyArn"))),
    "SVAI_AWS_022": (
        "sync",
        lambda r: edit(r, TABLE, set_path("pointInTimeRecovery.enabled", False)),
    ),
    "SVAI_AWS_023": (
        "async",
        lambda r: edit(
            r,
            "aws:lambda/eventSourceMapping:EventSourceMapping",
            set_path("functionResponseTypes", []),
        ),
    ),
    "SVAI_AWS_024": ("image", lambda r: edit(r, REPO, set_path("imageTagMutability", "MUTABLE"))),
    "SVAI_AWS_025": (
        "image",
        lambda r: edit(r, REPO, set_path("imageScanningConfiguration.scanOnPush", False)),
    ),
    "SVAI_AWS_026": (
        "image",
        lambda r: edit(
            r, REPO, set_path("encryptionConfigurations", [{"encryptionType": "AES256"}])
        ),
    ),
    "SVAI_AWS_027": (
        "realtime",
        lambda r: edit(
            r, "aws:sagemaker/endpointConfiguration:EndpointConfiguration", pop("kmsKeyArn")
        ),
    ),
    "SVAI_AWS_028": ("sync", lambda r: edit(r, STAGE, pop("accessLogSettings"))),
    "SVAI_AWS_029": (
        "sync",
        lambda r: edit(r, STAGE, set_path("defaultRouteSettings.throttlingRateLimit", 0)),
    ),
    "SVAI_AWS_030": ("sync", lambda r: drop(r, "aws:budgets/budget:Budget")),
    "SVAI_AWS_031": (
        "sync",
        lambda r: edit(r, FUNCTION, set_path("tracingConfig.mode", "PassThrough")),
    ),
    "SVAI_AWS_032": (
        "sync",
        lambda r: edit(r, TABLE, lambda i: i["tags"].pop("svai-model-version")),
    ),
    "SVAI_AWS_033": (
        "sync",
        lambda r: drop(r, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"),
    ),
    "SVAI_AWS_034": ("private", lambda r: r),
    "SVAI_AWS_035": (
        "egress",
        lambda r: edit(
            r,
            "aws:ec2/securityGroup:SecurityGroup",
            lambda i: i["egress"].append({"protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]}),
        ),
    ),
    "SVAI_AWS_036": (
        "big-jobs",
        lambda r: drop(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"),
    ),
}


def fired(resources: Recorded, plan: DeploymentPlan) -> set[str]:
    return {f.rule for f in evaluate(RULES, resources, plan)}


def test_every_rule_has_a_mutant() -> None:
    assert sorted(MUTANTS) == [rule.id for rule in RULES]


@pytest.mark.parametrize("key", sorted(set(BASES) - {"private"}))
def test_defaults_pass_every_rule(base: dict[str, Recorded], key: str) -> None:
    assert evaluate(RULES, base[key], BASES[key]) == []


@pytest.mark.parametrize("rule_id", sorted(MUTANTS))
def test_mutant_fires_exactly_its_rule(base: dict[str, Recorded], rule_id: str) -> None:
    key, mutate = MUTANTS[rule_id]
    mutant = mutate(base[key])
    findings = evaluate(RULES, mutant, BASES[key])
    assert {f.rule for f in findings} == {rule_id}
    rule = next(r for r in RULES if r.id == rule_id)
    assert all(f.severity == rule.severity and f.cloud == "aws" for f in findings)


def test_plan_mutant_visibility_below_six_times_the_worker_timeout(
    base: dict[str, Recorded],
) -> None:
    plan = BASES["async"]
    assert plan.queue is not None
    short = dataclasses.replace(
        plan, queue=dataclasses.replace(plan.queue, visibility_timeout_s=60)
    )
    assert fired(base["async"], short) == {"SVAI_AWS_007"}


def test_plan_mutant_async_without_a_dlq_alarm(base: dict[str, Recorded]) -> None:
    without = tuple(r for r in base["async"] if r.name != "summarize-dlq-depth")
    assert fired(without, BASES["async"]) == {"SVAI_AWS_013"}


def test_auth_none_allows_public_routes_and_nothing_else_fires() -> None:
    plan = sync_plan("aws", auth="none")
    resources = record(lambda: AwsBackend().program(plan))
    routes = [r for r in resources if r.type == "aws:apigatewayv2/route:Route"]
    assert [r.inputs["authorizationType"] for r in routes] == ["NONE"]
    assert fired(resources, plan) == set()
    iam_plan = dataclasses.replace(plan, entry=dataclasses.replace(plan.entry, auth="iam"))
    assert fired(resources, iam_plan) == {"SVAI_AWS_012"}


def test_rule_ids_follow_the_convention_and_name_checkov_ids() -> None:
    assert all(RULE_ID.match(rule.id) and cloud_of(rule.id) == "aws" for rule in RULES)
    assert len({rule.id for rule in RULES}) == len(RULES)
    checkov = {rule.id: rule.checkov for rule in RULES}
    assert checkov["SVAI_AWS_001"] == "CKV_AWS_27"
    assert checkov["SVAI_AWS_009"] == "CKV_AWS_63"
    assert all(c is None or c.startswith(("CKV_AWS_", "CKV2_AWS_")) for c in checkov.values())


def test_evaluate_sorts_fills_rule_fields_and_refuses_duplicate_ids() -> None:
    plan = BASES["sync"]

    def check(_: object, __: object) -> list[Finding]:
        return [fail("b", "r2"), fail("a", "r1")]

    low = Rule("SVAI_GCP_002", "low", "t", check, hint="do x")
    high = Rule("SVAI_AZ_001", "high", "t", check)
    findings = evaluate([low, high], [], plan)
    assert [(f.rule, f.resource, f.cloud) for f in findings] == [
        ("SVAI_AZ_001", "r1", "azure"),
        ("SVAI_AZ_001", "r2", "azure"),
        ("SVAI_GCP_002", "r1", "gcp"),
        ("SVAI_GCP_002", "r2", "gcp"),
    ]
    assert findings[2].hint == "do x" and findings[2].severity == "low"
    with pytest.raises(ValueError, match="duplicate"):
        evaluate([low, low], [], plan)
    with pytest.raises(ValueError, match=r"convention|match"):
        evaluate([Rule("AWS_1", "low", "t", check)], [], plan)


# ---- every branch of the IAM and public-invoke rules ------------------------------------------
# Each rule above has one mutant; these cases take each rule's other branches one at a time, both
# ways (a finding where the branch must fire, none where a look-alike must pass).

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"


def _statement(**fields: Any) -> Callable[[Recorded], Recorded]:
    return lambda r: edit(r, ROLE_POLICY, add_statement(fields))


def _permission(principal: str) -> Callable[[Recorded], Recorded]:
    inputs = {"action": "lambda:InvokeFunction", "function": "f", "principal": principal}
    return lambda r: add(r, RecordedResource(type=PERMISSION, name="invoke", inputs=inputs))


def _function_url(authorization: str) -> Callable[[Recorded], Recorded]:
    inputs = {"authorizationType": authorization, "functionName": "f"}
    return lambda r: add(r, RecordedResource(type=FUNCTION_URL, name="url", inputs=inputs))


BUCKET_ARN = "arn:aws:s3:::sentiment-artifacts/*"
NAMESPACE = {"StringEquals": {"cloudwatch:namespace": "svai/sentiment"}}

# case id -> (mutation of the sync base, the rules it must fire)
BRANCHES: dict[str, tuple[Callable[[Recorded], Recorded], set[str]]] = {
    # SVAI_AWS_009: wildcard actions, as a string or inside a list, and NotAction.
    "009-action-star-string": (
        _statement(Effect="Allow", Action="*", Resource=BUCKET_ARN),
        {"SVAI_AWS_009"},
    ),
    "009-action-star-in-list": (
        _statement(Effect="Allow", Action=["s3:GetObject", "s3:*"], Resource=BUCKET_ARN),
        {"SVAI_AWS_009"},
    ),
    "009-not-action": (
        _statement(Effect="Allow", NotAction=["iam:*"], Resource=BUCKET_ARN),
        {"SVAI_AWS_009"},
    ),
    "009-deny-with-wildcards-passes": (
        _statement(Effect="Deny", Action="*", NotAction=["s3:GetObject"], Resource="*"),
        set(),
    ),
    "009-named-actions-pass": (
        _statement(Effect="Allow", Action=["s3:GetObject"], Resource=BUCKET_ARN),
        set(),
    ),
    # SVAI_AWS_010: Resource "*" as a string or inside a list; resource-free actions pass.
    "010-resource-star-string": (
        _statement(Effect="Allow", Action="s3:GetObject", Resource="*"),
        {"SVAI_AWS_010"},
    ),
    "010-resource-star-in-list": (
        _statement(Effect="Allow", Action=["s3:GetObject"], Resource=[BUCKET_ARN, "*"]),
        {"SVAI_AWS_010"},
    ),
    "010-resource-free-actions-pass": (
        _statement(
            Effect="Allow",
            Action=["ecr:GetAuthorizationToken", "xray:PutTraceSegments"],
            Resource=["*"],
        ),
        set(),
    ),
    "010-metrics-without-namespace": (
        _statement(Effect="Allow", Action=["cloudwatch:PutMetricData"], Resource="*"),
        {"SVAI_AWS_010"},
    ),
    "010-metrics-with-namespace-pass": (
        _statement(
            Effect="Allow", Action=["cloudwatch:PutMetricData"], Resource="*", Condition=NAMESPACE
        ),
        set(),
    ),
    "010-deny-on-star-passes": (
        _statement(Effect="Deny", Action=["s3:DeleteObject"], Resource="*"),
        set(),
    ),
    # SVAI_AWS_012: routes (explicit or defaulted NONE), function URLs and resource policies.
    "012-route-without-authorization-type": (
        lambda r: edit(r, "aws:apigatewayv2/route:Route", pop("authorizationType")),
        {"SVAI_AWS_012"},
    ),
    "012-function-url-none": (_function_url("NONE"), {"SVAI_AWS_012"}),
    "012-function-url-iam-passes": (_function_url("AWS_IAM"), set()),
    "012-permission-to-anyone": (_permission("*"), {"SVAI_AWS_012"}),
    "012-permission-to-api-gateway-passes": (_permission("apigateway.amazonaws.com"), set()),
}


@pytest.mark.parametrize("case", sorted(BRANCHES))
def test_each_branch_of_the_iam_and_invoke_rules(base: dict[str, Recorded], case: str) -> None:
    mutate, expected = BRANCHES[case]
    assert fired(mutate(base["sync"]), BASES["sync"]) == expected


def test_auth_none_lets_anyone_invoke_through_every_door(base: dict[str, Recorded]) -> None:
    plan = sync_plan("aws", auth="none")
    resources = _permission("*")(_function_url("NONE")(base["sync"]))
    assert "SVAI_AWS_012" not in fired(resources, plan)
    assert "SVAI_AWS_012" in fired(resources, BASES["sync"])


@pytest.mark.parametrize("policy", ["[1, 2]", "not json", 42])
def test_an_unreadable_redrive_policy_counts_as_none(
    base: dict[str, Recorded], policy: object
) -> None:
    mutant = edit(base["async"], QUEUE, set_path("redrivePolicy", policy), "summarize-jobs")
    assert fired(mutant, BASES["async"]) == {"SVAI_AWS_006"}


def test_a_queue_with_sqs_managed_encryption_passes(base: dict[str, Recorded]) -> None:
    def sse_sqs(inputs: Inputs) -> None:
        del inputs["kmsMasterKeyId"]
        inputs["sqsManagedSseEnabled"] = True

    mutant = edit(base["async"], QUEUE, sse_sqs, "summarize-jobs")
    assert fired(mutant, BASES["async"]) == set()


@pytest.mark.parametrize(
    ("effect", "secure_transport", "fires"),
    [("Deny", False, False), ("Deny", "true", True), ("Allow", "false", True)],
)
def test_only_a_deny_without_tls_enforces_tls(
    base: dict[str, Recorded], effect: str, secure_transport: object, fires: bool
) -> None:
    def tls_statement(inputs: Inputs) -> None:
        policy = json.loads(inputs["policy"])
        for statement in policy["Statement"]:
            statement["Effect"] = effect
            statement["Condition"] = {"Bool": {"aws:SecureTransport": secure_transport}}
        inputs["policy"] = json.dumps(policy)

    mutant = edit(base["sync"], "aws:s3/bucketPolicy:BucketPolicy", tls_statement)
    assert fired(mutant, BASES["sync"]) == ({"SVAI_AWS_018"} if fires else set())


WILDCARD = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.mark.parametrize(
    ("holder", "inputs", "expected"),
    [
        # Wildcards in a role's inline policy and in a standalone managed policy are checked too.
        (
            "aws:iam/role:Role",
            {"inlinePolicies": [{"name": "p", "policy": json.dumps({"Statement": [WILDCARD]})}]},
            {"SVAI_AWS_009", "SVAI_AWS_010"},
        ),
        (
            "aws:iam/policy:Policy",
            {"policy": json.dumps({"Statement": [WILDCARD]})},
            {"SVAI_AWS_009", "SVAI_AWS_010"},
        ),
        # An administrator policy given as the role's managedPolicyArns.
        (
            "aws:iam/role:Role",
            {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
            {"SVAI_AWS_011"},
        ),
    ],
)
def test_every_place_a_policy_can_sit_is_checked(
    base: dict[str, Recorded], holder: str, inputs: Inputs, expected: set[str]
) -> None:
    tags = {"svai-model-version": BASES["sync"].model_version}
    extra = RecordedResource(type=holder, name="extra", inputs={**inputs, "tags": tags})
    assert fired(add(base["sync"], extra), BASES["sync"]) == expected


def test_an_egress_restricted_serverless_sagemaker_target_is_still_refused() -> None:
    plan = dataclasses.replace(sync_plan("aws", "aws.sagemaker.serverless"), egress="none")
    resources = record(lambda: AwsBackend().program(plan))
    (finding,) = evaluate(RULES, resources, plan)
    assert finding.rule == "SVAI_AWS_035" and "Serverless Inference" in finding.message
    assert "aws.sagemaker.realtime" in finding.message + finding.hint


# ---- branches `make mutate` found untested --------------------------------------------------------

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def on_rule(resources: Recorded, plan: DeploymentPlan, rule_id: str) -> list[str | None]:
    """The resources that ``rule_id`` names in its findings, in order."""
    return [f.resource for f in evaluate(RULES, resources, plan) if f.rule == rule_id]


def test_a_queue_recorded_after_the_dead_letter_queue_is_still_checked(
    base: dict[str, Recorded],
) -> None:
    # The dead-letter queue is skipped, not the queues after it.
    tags = {"svai-model-version": BASES["async"].model_version}
    extra = RecordedResource(type=QUEUE, name="extra", inputs={"name": "extra", "tags": tags})
    assert on_rule(add(base["async"], extra), BASES["async"], "SVAI_AWS_006") == ["extra"]


def test_an_async_deployment_that_records_no_queue_is_refused(base: dict[str, Recorded]) -> None:
    without = tuple(r for r in base["async"] if r.type != QUEUE)
    assert on_rule(without, BASES["async"], "SVAI_AWS_006") == [None]
    assert on_rule(without, BASES["sync"], "SVAI_AWS_006") == []


@pytest.mark.parametrize(
    ("rules", "fires"),
    [
        ([{"bucketKeyEnabled": True}], True),  # no default encryption at all
        ([], True),
        (
            [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms:dsse"}}],
            True,  # dual-layer SSE-KMS still needs the key
        ),
        (
            [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms:dsse",
                        "kmsMasterKeyId": "arn:aws:kms:us-east-1:123456789012:key",
                    }
                }
            ],
            False,
        ),
    ],
)
def test_bucket_encryption_needs_an_sse_kms_default_with_a_key(
    base: dict[str, Recorded], rules: list[dict[str, Any]], fires: bool
) -> None:
    mutant = edit(base["sync"], SSE, set_path("rules", rules))
    assert fired(mutant, BASES["sync"]) == ({"SVAI_AWS_002"} if fires else set())


ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
WORKER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:summarize-worker"


@pytest.mark.parametrize(
    "function_name",
    [
        "summarize-worker",  # a bare name
        WORKER_ARN,  # an unqualified ARN
        f"{WORKER_ARN}:live",  # an ARN with an alias (the backend's)
    ],
)
def test_the_worker_is_found_however_its_trigger_names_it(
    base: dict[str, Recorded], function_name: str
) -> None:
    # 600 s is under 6 x the worker's 120 s timeout: the rule fires once it finds the worker.
    mutant = edit(base["async"], ESM, set_path("functionName", function_name))
    mutant = edit(mutant, QUEUE, set_path("visibilityTimeoutSeconds", 600), "summarize-jobs")
    assert on_rule(mutant, BASES["async"], "SVAI_AWS_007") == ["summarize-jobs"]


def test_a_trigger_on_an_unrecorded_queue_or_function_is_not_judged(
    base: dict[str, Recorded],
) -> None:
    short = edit(base["async"], QUEUE, set_path("visibilityTimeoutSeconds", 600), "summarize-jobs")
    elsewhere = edit(short, ESM, set_path("eventSourceArn", "arn:aws:sqs:us-east-1:1:other"))
    assert on_rule(elsewhere, BASES["async"], "SVAI_AWS_007") == []
    no_function = edit(short, ESM, pop("functionName"))
    assert on_rule(no_function, BASES["async"], "SVAI_AWS_007") == []


@pytest.mark.parametrize(
    ("visibility", "timeout", "fires"),
    [
        (None, 120, True),  # SQS's default visibility, 30 s, is under 6 x 120 s
        (None, 5, False),  # 30 s is exactly 6 x 5 s
        (20, None, False),  # Lambda's default timeout, 3 s: 20 s is over 18 s
        (17, None, True),
    ],
)
def test_visibility_and_timeout_default_to_the_clouds_defaults(
    base: dict[str, Recorded], visibility: int | None, timeout: int | None, fires: bool
) -> None:
    def queue(inputs: Inputs) -> None:
        inputs.pop("visibilityTimeoutSeconds")
        if visibility is not None:
            inputs["visibilityTimeoutSeconds"] = visibility

    def worker(inputs: Inputs) -> None:
        inputs.pop("timeout")
        if timeout is not None:
            inputs["timeout"] = timeout

    mutant = edit(base["async"], QUEUE, queue, "summarize-jobs")
    mutant = edit(mutant, FUNCTION, worker, "summarize-worker-fn")
    assert on_rule(mutant, BASES["async"], "SVAI_AWS_007") == (["summarize-jobs"] if fires else [])


def test_a_redrive_policy_without_max_receive_count_fires(base: dict[str, Recorded]) -> None:
    def no_count(inputs: Inputs) -> None:
        policy = json.loads(inputs["redrivePolicy"])
        del policy["maxReceiveCount"]
        inputs["redrivePolicy"] = json.dumps(policy)

    mutant = edit(base["async"], QUEUE, no_count, "summarize-jobs")
    assert on_rule(mutant, BASES["async"], "SVAI_AWS_008") == ["summarize-jobs"]


def test_an_async_plan_without_a_queue_setting_judges_the_recorded_queue_only(
    base: dict[str, Recorded],
) -> None:
    plan = dataclasses.replace(BASES["async"], queue=None)
    assert fired(base["async"], plan) == set()


def test_a_wildcard_allowed_after_a_deny_in_the_same_policy_fires(
    base: dict[str, Recorded],
) -> None:
    deny = {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": BUCKET_ARN}
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET_ARN}
    mutant = _statement(**allow)(edit(base["sync"], ROLE_POLICY, add_statement(deny)))
    assert fired(mutant, BASES["sync"]) == {"SVAI_AWS_009"}


@pytest.mark.parametrize(
    ("policy_arn", "fires"),
    [
        # A policy is judged by its name, the ARN's last segment, whatever path it sits under.
        ("arn:aws:iam::123456789012:policy/teams/platform/AdministratorAccess", True),
        ("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", False),
        ("", False),  # no ARN recorded
        ("AdministratorAccess", True),  # a bare name
    ],
)
def test_administrator_policies_are_found_by_name(
    base: dict[str, Recorded], policy_arn: str, fires: bool
) -> None:
    attachment = dataclasses.replace(ADMIN, inputs={"policyArn": policy_arn, "role": "r"})
    assert fired(add(base["sync"], attachment), BASES["sync"]) == (
        {"SVAI_AWS_011"} if fires else set()
    )


def _streaming(auth_env: str | None, url_for: str = "stream") -> Callable[[Recorded], Recorded]:
    """A function ``stream`` (checking the JWT itself when ``auth_env`` is "jwt") behind an open
    function URL and an invoke permission for anyone, both for the function ``url_for``."""
    variables = {} if auth_env is None else {"SVAI_AUTH": auth_env}
    inputs = {"name": "stream", "environment": {"variables": variables}}
    function = RecordedResource(type=FUNCTION, name="stream-fn", inputs=inputs)

    def mutate(resources: Recorded) -> Recorded:
        with_url = _function_url("NONE")(add(resources, function))
        with_url = edit(with_url, FUNCTION_URL, set_path("functionName", url_for), "url")
        permission = _permission("*")(with_url)
        return edit(permission, PERMISSION, set_path("function", url_for), "invoke")

    return mutate


@pytest.mark.parametrize(
    ("auth", "auth_env", "url_for", "fires"),
    [
        ("jwt", "jwt", "stream", False),  # the function checks the spec's JWT itself
        ("iam", "jwt", "stream", True),  # the spec asks for IAM: the open door is not allowed
        ("jwt", None, "stream", True),  # the function does not check the JWT
        ("jwt", "iam", "stream", True),
        ("jwt", "jwt", "other", True),  # the open door leads to another function
    ],
)
def test_only_a_function_that_checks_the_jwt_may_sit_behind_an_open_door(
    base: dict[str, Recorded], auth: str, auth_env: str | None, url_for: str, fires: bool
) -> None:
    plan = sync_plan("aws", auth=auth)  # type: ignore[arg-type]
    resources = _streaming(auth_env, url_for)(base["sync"])
    doors = {"url", "invoke"} & set(on_rule(resources, plan, "SVAI_AWS_012"))
    assert doors == ({"url", "invoke"} if fires else set())


ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _error_alarm_as(change: Callable[[Inputs], None]) -> Callable[[Recorded], Recorded]:
    return lambda r: edit(r, ALARM, change, "sentiment-error-rate")


def _plain_errors(inputs: Inputs) -> None:
    inputs.pop("metricQueries")
    inputs["metricName"] = "Errors"


@pytest.mark.parametrize(
    ("mutate", "fires"),
    [
        (lambda r: tuple(x for x in r if x.name != "sentiment-error-rate"), True),
        (_error_alarm_as(_plain_errors), False),  # a plain alarm on Errors counts too
        (_error_alarm_as(set_path("metricQueries.0.metric.metricName", "Throttles")), True),
    ],
)
def test_an_error_rate_alarm_is_required_in_either_form(
    base: dict[str, Recorded], mutate: Callable[[Recorded], Recorded], fires: bool
) -> None:
    assert fired(mutate(base["sync"]), BASES["sync"]) == ({"SVAI_AWS_013"} if fires else set())


def test_the_depth_alarm_must_watch_the_dead_letter_queue(base: dict[str, Recorded]) -> None:
    # The jobs queue (consumed by the worker) is not a dead-letter queue.
    on_jobs = edit(
        base["async"],
        ALARM,
        set_path("dimensions.QueueName", "summarize-jobs"),
        "summarize-dlq-depth",
    )
    assert fired(on_jobs, BASES["async"]) == {"SVAI_AWS_013"}


def test_the_dead_letter_queue_is_known_by_its_physical_name(base: dict[str, Recorded]) -> None:
    renamed = edit(base["async"], QUEUE, set_path("name", "dlq-physical"), "summarize-dlq")
    assert "SVAI_AWS_013" in fired(renamed, BASES["async"])
    watched = edit(
        renamed, ALARM, set_path("dimensions.QueueName", "dlq-physical"), "summarize-dlq-depth"
    )
    assert "SVAI_AWS_013" not in fired(watched, BASES["async"])


@pytest.mark.parametrize(("reserved", "fires"), [(1, False), (0, True), (-1, True), ("5", True)])
def test_a_reserved_concurrency_of_at_least_one_guards_a_function(
    base: dict[str, Recorded], reserved: object, fires: bool
) -> None:
    mutant = edit(base["sync"], FUNCTION, set_path("reservedConcurrentExecutions", reserved))
    assert fired(mutant, BASES["sync"]) == ({"SVAI_AWS_014"} if fires else set())


def test_a_secret_value_written_by_the_program_fires(base: dict[str, Recorded]) -> None:
    version = RecordedResource(
        type="aws:secretsmanager/secretVersion:SecretVersion",
        name="token-value",
        inputs={"secretId": "token", "secretString": "hf_plaintext"},
    )
    assert on_rule(add(base["sync"], version), BASES["sync"], "SVAI_AWS_020") == ["token-value"]


PROVISIONED = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"


@pytest.mark.parametrize(
    ("change", "fires"),
    [
        (set_path("provisionedConcurrentExecutions", 0), True),
        (pop("provisionedConcurrentExecutions"), True),  # nothing provisioned
        (set_path("provisionedConcurrentExecutions", 1), False),
    ],
)
def test_a_warm_pool_needs_at_least_one_provisioned_instance(
    base: dict[str, Recorded], change: Callable[[Inputs], None], fires: bool
) -> None:
    mutant = edit(base["sync"], PROVISIONED, change)
    assert fired(mutant, BASES["sync"]) == ({"SVAI_AWS_033"} if fires else set())


def test_private_networking_is_in_place_once_a_function_is_in_a_vpc(
    base: dict[str, Recorded],
) -> None:
    # The egress base puts the functions in a VPC; judged against a plan asking for privacy.
    assert on_rule(base["egress"], BASES["private"], "SVAI_AWS_034") == []
    assert on_rule(base["sync"], BASES["private"], "SVAI_AWS_034") == [None]


NAT = RecordedResource(type="aws:ec2/natGateway:NatGateway", name="nat", inputs={})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: edit(r, FUNCTION, pop("vpcConfig")),  # one function outside the VPC
        lambda r: add(r, NAT),  # a route to the internet
        lambda r: drop(r, "aws:ec2/vpcEndpoint:VpcEndpoint"),  # no S3 endpoint for the fetch
    ],
    ids=["function-outside", "nat-gateway", "no-s3-endpoint"],
)
def test_each_part_of_the_built_egress_restriction_is_required(
    base: dict[str, Recorded], mutate: Callable[[Recorded], Recorded]
) -> None:
    assert on_rule(mutate(base["egress"]), BASES["egress"], "SVAI_AWS_035") == [None]


LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
CLAIM_ENV = {"SVAI_PAYLOAD_BUCKET": "summarize-payloads", "SVAI_QUEUE_MESSAGE_BYTES": "1048576"}


def _front_env(variables: dict[str, str]) -> Callable[[Inputs], None]:
    def change(inputs: Inputs) -> None:
        if "SVAI_PAYLOAD_BUCKET" in get_path(inputs, "environment.variables", {}):
            inputs["environment"]["variables"] = variables

    return change


def test_big_jobs_need_an_expiry_rule_and_a_front_that_knows_the_bucket_and_limit(
    base: dict[str, Recorded],
) -> None:
    plan = BASES["big-jobs"]
    no_rules = edit(base["big-jobs"], LIFECYCLE, pop("rules"))
    assert on_rule(no_rules, plan, "SVAI_AWS_036") == [None]
    # A front with exactly the two variables it needs is a front.
    fronts = [r for r in base["big-jobs"] if r.type == FUNCTION]
    exact = base["big-jobs"]
    for front in fronts:
        exact = edit(exact, FUNCTION, _front_env(CLAIM_ENV), front.name)
    assert any(get_path(r.inputs, "environment.variables") == CLAIM_ENV for r in exact)
    assert on_rule(exact, plan, "SVAI_AWS_036") == []


def test_a_warm_service_after_a_cold_one_is_still_checked(base: dict[str, Recorded]) -> None:
    plan = BASES["sync"]
    (api,) = plan.services
    cold = dataclasses.replace(
        api, name="cold", compute=dataclasses.replace(api.compute, min_instances=0)
    )
    both = dataclasses.replace(plan, services=(cold, api))
    without = drop(base["sync"], PROVISIONED)
    assert on_rule(without, both, "SVAI_AWS_033") == ["sentiment-api"]


def test_a_long_function_name_is_matched_as_lambda_truncates_it() -> None:
    plan = sync_plan("aws", name="a" * 61)  # "aaa...-api" is 65 characters
    resources = record(lambda: AwsBackend().program(plan))
    assert on_rule(resources, plan, "SVAI_AWS_033") == []


def test_a_realtime_endpoint_with_a_declared_egress_needs_its_models_in_the_vpc() -> None:
    plan = dataclasses.replace(sync_plan("aws", "aws.sagemaker.realtime"), egress="none")
    resources = record(lambda: AwsBackend().program(plan))
    assert on_rule(resources, plan, "SVAI_AWS_035") == []
    outside = edit(resources, "aws:sagemaker/model:Model", pop("vpcConfig"))
    assert on_rule(outside, plan, "SVAI_AWS_035") == [None]
