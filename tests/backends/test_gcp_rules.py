"""GCP rules: defaults pass, and each rule has a mutant that makes exactly that rule fire."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from mutants import DELETE, record_once_under_mutmut, set_path
from plans import CANARY_SECRET, async_plan, sync_plan

from svai.backends.base import RecordedResource
from svai.backends.claims import MESSAGE_BYTES_ENV, PAYLOAD_BUCKET_ENV
from svai.backends.gcp import GcpBackend
from svai.backends.gcp import tokens as T
from svai.backends.gcp.rules import RULES
from svai.backends.preview import record
from svai.backends.rules import evaluate, get_path
from svai.ir import DeploymentPlan

BILLING = "000000-111111-222222"
KEY = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
Resources = tuple[RecordedResource, ...]


def _gpu(plan: DeploymentPlan) -> DeploymentPlan:
    api = plan.services[0]
    compute = dataclasses.replace(api.compute, gpu_type="nvidia-l4", gpu_count=1)
    return dataclasses.replace(plan, services=(dataclasses.replace(api, compute=compute),))


def _bigger_jobs(plan: DeploymentPlan, payload: int) -> DeploymentPlan:
    return dataclasses.replace(
        plan, entry=dataclasses.replace(plan.entry, max_payload_bytes=payload)
    )


PLANS: dict[str, Callable[[], DeploymentPlan]] = {
    "run-iam": lambda: sync_plan("gcp"),
    "run-none": lambda: sync_plan("gcp", auth="none"),
    "run-gpu-canary": lambda: _gpu(sync_plan("gcp", canary=True, cache=True)),
    "functions-jwt": lambda: sync_plan("gcp", "gcp.cloudrun.functions", auth="jwt"),
    "vertex-cmek": lambda: sync_plan("gcp", "gcp.vertex.online_prediction", customer_key=KEY),
    "async-run-key": lambda: async_plan("gcp", "gcp.cloudrun.service", auth="api-key"),
    "async-functions-cmek": lambda: async_plan("gcp", "gcp.cloudrun.functions", customer_key=KEY),
    # The GCP backend builds no private network yet: the plan itself is SVAI_GCP_018's mutant.
    "private": lambda: dataclasses.replace(sync_plan("gcp"), private_network=True),
    # A declared egress (issue #24): Direct VPC egress, Private Google Access, deny by default.
    "egress": lambda: dataclasses.replace(sync_plan("gcp"), egress="none"),
    # Cloud Run functions join the same subnet through Direct VPC egress.
    "egress-functions": lambda: dataclasses.replace(
        async_plan("gcp", "gcp.cloudrun.functions"), egress="private-only"
    ),
    # A Vertex AI container's egress cannot be restricted by a deployment: refused.
    "egress-vertex": lambda: dataclasses.replace(
        sync_plan("gcp", "gcp.vertex.online_prediction"), egress="none"
    ),
    # 20 MB jobs: the claim check (lifecycle rule, bucket and limit variables) carries them.
    "big-jobs": lambda: _bigger_jobs(async_plan("gcp", "gcp.cloudrun.service"), 20 * 2**20),
}


@cache
def _recorded(name: str, billing: str | None = BILLING) -> Resources:
    backend = GcpBackend(billing_account=billing)
    plan = PLANS[name]()
    return record(lambda: backend.program(plan))


record_once_under_mutmut(_recorded, PLANS)


def _fired(resources: Resources, plan: DeploymentPlan) -> set[str]:
    return {f.rule for f in evaluate(RULES, resources, plan)}


def _mutate(resources: Resources, name: str, change: Callable[[dict[str, Any]], None]) -> Resources:
    out = []
    hits = 0
    for r in resources:
        if r.name == name:
            inputs = copy.deepcopy(dict(r.inputs))
            change(inputs)
            r = dataclasses.replace(r, inputs=inputs)
            hits += 1
        out.append(r)
    assert hits == 1, name
    return tuple(out)


@pytest.mark.parametrize("name", sorted(set(PLANS) - {"private", "egress-vertex"}))
def test_defaults_have_no_findings(name: str) -> None:
    findings = evaluate(RULES, _recorded(name), PLANS[name]())
    assert findings == []


def test_without_a_billing_account_only_the_budget_rule_fires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SVAI_GCP_BILLING_ACCOUNT", raising=False)
    assert _fired(_recorded("run-iam", None), PLANS["run-iam"]()) == {"SVAI_GCP_014"}


def _add_public_invoker(resources: Resources) -> Resources:
    public = RecordedResource(
        T.RUN_IAM,
        "public",
        {"member": "allUsers", "name": "sentiment-api", "role": "roles/run.invoker"},
        "sentiment",
        "sentiment",
    )
    return (*resources, public)


def _add_plain_secret(inputs: dict[str, Any]) -> None:
    inputs["template"]["containers"][0]["envs"].append({"name": "HF_TOKEN", "value": CANARY_SECRET})


def _bad_label(inputs: dict[str, Any]) -> None:
    inputs["labels"] = {"Owner": "Team A"}


MUTANTS: dict[str, tuple[str, Callable[[Resources], Resources]]] = {
    "SVAI_GCP_001": ("run-iam", _add_public_invoker),
    "SVAI_GCP_002": (
        "async-run-key",
        lambda rs: _mutate(rs, "sub-jobs", set_path("deadLetterPolicy", DELETE)),
    ),
    "SVAI_GCP_003": (
        "run-iam",
        lambda rs: _mutate(rs, "iam-api-metrics-write-metrics", set_path("role", "roles/editor")),
    ),
    "SVAI_GCP_004": (
        "run-iam",
        lambda rs: _mutate(rs, "artifacts", set_path("publicAccessPrevention", "inherited")),
    ),
    "SVAI_GCP_005": (
        "run-iam",
        lambda rs: _mutate(rs, "artifacts", set_path("uniformBucketLevelAccess", False)),
    ),
    "SVAI_GCP_006": (
        "run-iam",
        lambda rs: _mutate(rs, "artifacts", set_path("versioning.enabled", False)),
    ),
    "SVAI_GCP_007": (
        "async-run-key",
        lambda rs: _mutate(rs, "sub-jobs", set_path("ackDeadlineSeconds", 60)),
    ),
    "SVAI_GCP_008": (
        "run-iam",
        lambda rs: tuple(r for r in rs if r.name != "alert-error-rate"),
    ),
    "SVAI_GCP_009": (
        "run-iam",
        lambda rs: _mutate(rs, "svc-api", set_path("template.scaling.maxInstanceCount", DELETE)),
    ),
    "SVAI_GCP_010": (
        "async-functions-cmek",
        lambda rs: _mutate(rs, "topic-jobs", set_path("kmsKeyName", DELETE)),
    ),
    "SVAI_GCP_011": (
        "async-run-key",
        lambda rs: _mutate(rs, "sub-jobs", set_path("retryPolicy", DELETE)),
    ),
    "SVAI_GCP_012": (
        "async-run-key",
        lambda rs: _mutate(rs, "sub-jobs", set_path("pushConfig.oidcToken", DELETE)),
    ),
    "SVAI_GCP_013": ("run-iam", lambda rs: _mutate(rs, "svc-api", _add_plain_secret)),
    "SVAI_GCP_014": ("run-iam", lambda rs: tuple(r for r in rs if r.type != T.BUDGET)),
    "SVAI_GCP_015": ("run-iam", lambda rs: _mutate(rs, "artifacts", _bad_label)),
    "SVAI_GCP_016": (
        "run-gpu-canary",
        lambda rs: _mutate(
            rs, "svc-api", set_path("template.containers.0.resources.cpuIdle", True)
        ),
    ),
    "SVAI_GCP_017": (
        "run-iam",
        lambda rs: _mutate(rs, "svc-api", set_path("template.serviceAccount", DELETE)),
    ),
    "SVAI_GCP_018": ("private", lambda rs: rs),
    "SVAI_GCP_019": (
        "egress",
        lambda rs: _mutate(rs, "firewall-deny-egress", set_path("denies", DELETE)),
    ),
    "SVAI_GCP_020": (
        "big-jobs",
        lambda rs: _mutate(rs, "artifacts", set_path("lifecycleRules", DELETE)),
    ),
}


def test_every_rule_has_a_mutant() -> None:
    assert sorted(MUTANTS) == [r.id for r in RULES]


@pytest.mark.parametrize("rule_id", sorted(MUTANTS))
def test_mutant_fires_exactly_its_rule(rule_id: str) -> None:
    plan_name, mutate = MUTANTS[rule_id]
    plan = PLANS[plan_name]()
    assert _fired(mutate(_recorded(plan_name)), plan) == {rule_id}


def test_public_invoker_is_allowed_only_when_the_spec_says_none() -> None:
    resources = _recorded("run-none")
    assert any(r.inputs.get("member") == "allUsers" for r in resources if r.type == T.RUN_IAM)
    assert _fired(resources, PLANS["run-none"]()) == set()
    assert _fired(resources, PLANS["run-iam"]()) == {"SVAI_GCP_001"}


def test_a_worker_slower_than_pubsub_allows_fires_the_ack_rule() -> None:
    plan = async_plan("gcp", "gcp.cloudrun.service", worker_timeout_s=900.0)
    backend = GcpBackend(billing_account=BILLING)
    resources = record(lambda: backend.program(plan))
    assert _fired(resources, plan) == {"SVAI_GCP_007"}


def test_rules_name_checkov_ids_and_have_titles() -> None:
    assert all(r.title and r.severity in {"high", "medium", "low"} for r in RULES)
    assert {r.id: r.checkov for r in RULES if r.checkov} == {
        "SVAI_GCP_001": "CKV_GCP_102",
        "SVAI_GCP_003": "CKV_GCP_117",
        "SVAI_GCP_004": "CKV_GCP_28",
        "SVAI_GCP_005": "CKV_GCP_29",
        "SVAI_GCP_006": "CKV_GCP_78",
        "SVAI_GCP_010": "CKV_GCP_83",
    }


# ---- every branch of the IAM rules ------------------------------------------------------------


def _grant(token: str, member: str, role: str) -> Callable[[Resources], Resources]:
    grant = RecordedResource(
        token,
        "grant",
        {"member": member, "name": "sentiment-api", "role": role},
        "sentiment",
        "sentiment",
    )
    return lambda rs: (*rs, grant)


SA = "serviceAccount:caller@svai-project.iam.gserviceaccount.com"

# case id -> (plan, added grant, the rules it must fire)
IAM_BRANCHES: dict[str, tuple[str, Callable[[Resources], Resources], set[str]]] = {
    # SVAI_GCP_001: anyone with a Google account is never a valid invoker, even with auth: none.
    "001-all-authenticated-users": (
        "run-iam",
        _grant(T.RUN_IAM, "allAuthenticatedUsers", "roles/run.invoker"),
        {"SVAI_GCP_001"},
    ),
    "001-all-authenticated-users-even-with-auth-none": (
        "run-none",
        _grant(T.RUN_IAM, "allAuthenticatedUsers", "roles/run.invoker"),
        {"SVAI_GCP_001"},
    ),
    "001-all-users-on-a-vertex-endpoint": (
        "vertex-cmek",
        _grant(T.VERTEX_ENDPOINT_IAM, "allUsers", "roles/aiplatform.user"),
        {"SVAI_GCP_001"},
    ),
    "001-a-named-caller-passes": (
        "run-iam",
        _grant(T.RUN_IAM, SA, "roles/run.invoker"),
        set(),
    ),
    # SVAI_GCP_003: each primitive role, on any IAM grant type.
    "003-owner": ("run-iam", _grant(T.PROJECT_IAM, SA, "roles/owner"), {"SVAI_GCP_003"}),
    "003-editor": ("run-iam", _grant(T.SECRET_IAM, SA, "roles/editor"), {"SVAI_GCP_003"}),
    "003-viewer": ("run-iam", _grant(T.BUCKET_IAM, SA, "roles/viewer"), {"SVAI_GCP_003"}),
    "003-predefined-role-passes": (
        "run-iam",
        _grant(T.SECRET_IAM, SA, "roles/secretmanager.secretAccessor"),
        set(),
    ),
    # SVAI_GCP_004: a bucket grant to either public member, besides public access prevention.
    "004-bucket-to-all-users": (
        "run-iam",
        _grant(T.BUCKET_IAM, "allUsers", "roles/storage.objectViewer"),
        {"SVAI_GCP_004"},
    ),
    "004-bucket-to-all-authenticated-users": (
        "run-iam",
        _grant(T.BUCKET_IAM, "allAuthenticatedUsers", "roles/storage.objectViewer"),
        {"SVAI_GCP_004"},
    ),
    "004-bucket-to-a-service-account-passes": (
        "run-iam",
        _grant(T.BUCKET_IAM, SA, "roles/storage.objectViewer"),
        set(),
    ),
}


@pytest.mark.parametrize("case", sorted(IAM_BRANCHES))
def test_each_branch_of_the_iam_rules(case: str) -> None:
    plan_name, mutate, expected = IAM_BRANCHES[case]
    assert _fired(mutate(_recorded(plan_name)), PLANS[plan_name]()) == expected


@pytest.mark.parametrize(
    ("field", "value", "fires"),
    [
        # An L4 needs at least 4 vCPU and 16 GiB; each unit Cloud Run accepts, at the boundary.
        ("cpu", "4000m", False),
        ("cpu", "3999m", True),
        ("cpu", "4.0", False),
        ("cpu", "3.9", True),
        ("memory", "16Gi", False),
        ("memory", "16383Mi", True),
        ("memory", "17180M", False),
        ("memory", "17179M", True),
        ("memory", "18G", False),
        ("memory", "17G", True),
        ("memory", str(16 * 2**30), False),
        ("memory", str(16 * 2**30 - 2**20), True),
    ],
)
def test_gpu_minimums_read_every_cpu_and_memory_unit(field: str, value: str, fires: bool) -> None:
    mutate = set_path(f"template.containers.0.resources.limits.{field}", value)
    resources = _mutate(_recorded("run-gpu-canary"), "svc-api", mutate)
    expected = {"SVAI_GCP_016"} if fires else set()
    assert _fired(resources, PLANS["run-gpu-canary"]()) == expected


COMPUTE_SA = "123456789012-compute@developer.gserviceaccount.com"

# case id -> (plan, resource, edit of its inputs, the rules it must fire)
BRANCHES: dict[str, tuple[str, str, Callable[[dict[str, Any]], None], set[str]]] = {
    # SVAI_GCP_002: 5-100 delivery attempts, on push and on pull job subscriptions.
    "002-100-attempts": (
        "async-run-key",
        "sub-jobs",
        set_path("deadLetterPolicy.maxDeliveryAttempts", 100),
        set(),
    ),
    "002-101-attempts": (
        "async-run-key",
        "sub-jobs",
        set_path("deadLetterPolicy.maxDeliveryAttempts", 101),
        {"SVAI_GCP_002"},
    ),
    "002-4-attempts": (
        "async-run-key",
        "sub-jobs",
        set_path("deadLetterPolicy.maxDeliveryAttempts", 4),
        {"SVAI_GCP_002"},
    ),
    "002-pull-with-dead-letter": (
        "async-run-key",
        "sub-jobs",
        set_path("pushConfig", DELETE),
        set(),
    ),
    # SVAI_GCP_007: Pub/Sub's default ack deadline (10 s) is under the worker timeout.
    "007-default-ack-deadline": (
        "async-run-key",
        "sub-jobs",
        set_path("ackDeadlineSeconds", DELETE),
        {"SVAI_GCP_007"},
    ),
    # SVAI_GCP_013: a secret as a plain variable of a Cloud Run function.
    "013-function-plain-secret": (
        "functions-jwt",
        "fn-api",
        set_path("serviceConfig.environmentVariables.HF_TOKEN", CANARY_SECRET),
        {"SVAI_GCP_013"},
    ),
    # SVAI_GCP_015: a valid key with an invalid value.
    "015-bad-label-value": (
        "run-iam",
        "artifacts",
        set_path("labels.team", "Team A"),
        {"SVAI_GCP_015"},
    ),
    # SVAI_GCP_017: the default compute account named, on services and functions.
    "017-service-default-compute-account": (
        "run-iam",
        "svc-api",
        set_path("template.serviceAccount", COMPUTE_SA),
        {"SVAI_GCP_017"},
    ),
    "017-function-without-account": (
        "functions-jwt",
        "fn-api",
        set_path("serviceConfig.serviceAccountEmail", DELETE),
        {"SVAI_GCP_017"},
    ),
    "017-function-default-compute-account": (
        "functions-jwt",
        "fn-api",
        set_path("serviceConfig.serviceAccountEmail", COMPUTE_SA),
        {"SVAI_GCP_017"},
    ),
}


@pytest.mark.parametrize("case", sorted(BRANCHES))
def test_each_branch_of_the_subscription_secret_label_and_identity_rules(case: str) -> None:
    plan_name, name, change, expected = BRANCHES[case]
    assert _fired(_mutate(_recorded(plan_name), name, change), PLANS[plan_name]()) == expected


def test_a_pull_job_subscription_without_a_dead_letter_policy_fires() -> None:
    def pull_without_dead_letter(inputs: dict[str, Any]) -> None:
        del inputs["pushConfig"], inputs["deadLetterPolicy"]

    resources = _mutate(_recorded("async-run-key"), "sub-jobs", pull_without_dead_letter)
    assert _fired(resources, PLANS["async-run-key"]()) == {"SVAI_GCP_002"}


def test_restricted_egress_with_a_vertex_endpoint_is_refused_with_the_reason() -> None:
    findings = evaluate(RULES, _recorded("egress-vertex"), PLANS["egress-vertex"]())
    high = [f for f in findings if f.severity == "high"]
    assert [f.rule for f in high] == ["SVAI_GCP_019"]
    assert "VPC Service Controls" in high[0].message and "organization" in high[0].message
    assert "gcp.cloudrun.service" in high[0].hint


def test_a_function_outside_the_vpc_is_refused() -> None:
    # The async plan's front keeps its default egress: the restriction is not built.
    resources = _mutate(
        _recorded("egress-functions"),
        "fn-submit",
        set_path("serviceConfig.directVpcEgress", "VPC_EGRESS_PRIVATE_RANGES_ONLY"),
    )
    assert _fired(resources, PLANS["egress-functions"]()) == {"SVAI_GCP_019"}


# ---- the inputs each rule reads, case by case (issue #29) -------------------------------------


def _gpu_service(change: Callable[[dict[str, Any]], None]) -> Resources:
    return _mutate(_recorded("run-gpu-canary"), "svc-api", change)


def _drop(*paths: str) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        for path in paths:
            set_path(path, DELETE)(inputs)

    return change


@pytest.mark.parametrize("field", ["cpu", "memory"])
def test_a_gpu_service_without_a_cpu_or_memory_limit_fires(field: str) -> None:
    resources = _gpu_service(_drop(f"template.containers.0.resources.limits.{field}"))
    assert _fired(resources, PLANS["run-gpu-canary"]()) == {"SVAI_GCP_016"}


@pytest.mark.parametrize(
    ("memory", "fires"),
    [
        # Just under 16384 MiB in each decimal and binary unit.
        ("15.99Gi", True),
        ("17.179869175G", True),
        ("17179.86M", True),
        ("17.179869184G", False),
    ],
)
def test_gpu_memory_just_under_the_minimum_fires(memory: str, fires: bool) -> None:
    resources = _gpu_service(set_path("template.containers.0.resources.limits.memory", memory))
    expected = {"SVAI_GCP_016"} if fires else set()
    assert _fired(resources, PLANS["run-gpu-canary"]()) == expected


def test_an_accelerator_without_recorded_minimums_needs_no_cpu_or_memory() -> None:
    def unknown_accelerator(inputs: dict[str, Any]) -> None:
        set_path("template.nodeSelector.accelerator", "nvidia-future-gpu")(inputs)
        set_path("template.containers.0.resources.limits.cpu", "0.5")(inputs)
        set_path("template.containers.0.resources.limits.memory", DELETE)(inputs)

    assert _fired(_gpu_service(unknown_accelerator), PLANS["run-gpu-canary"]()) == set()


def test_a_gpu_service_after_a_cpu_service_is_still_checked() -> None:
    cpu_service = next(r for r in _recorded("run-iam") if r.name == "svc-api")
    cpu_service = dataclasses.replace(cpu_service, name="svc-cpu")
    resources = _gpu_service(set_path("template.containers.0.resources.cpuIdle", True))
    findings = evaluate(RULES, (cpu_service, *resources), PLANS["run-gpu-canary"]())
    assert {f.resource for f in findings if f.rule == "SVAI_GCP_016"} == {"svc-api"}


def _claim_check_front_on_cloud_run(resources: Resources) -> Resources:
    """The claim check's variables move from the submit function to the worker's container."""
    submit = next(r for r in resources if r.name == "fn-submit")
    front = get_path(submit.inputs, "serviceConfig.environmentVariables")
    claim = {n: front[n] for n in (PAYLOAD_BUCKET_ENV, MESSAGE_BYTES_ENV)}
    resources = _mutate(resources, "fn-submit", _drop("serviceConfig.environmentVariables"))

    def add_envs(inputs: dict[str, Any]) -> None:
        envs = inputs["template"]["containers"][0]["envs"]
        envs[:] = [e for e in envs if e["name"] not in claim]
        envs.extend({"name": n, "value": v} for n, v in claim.items())

    return _mutate(resources, "svc-worker", add_envs)


def test_a_cloud_run_container_can_carry_the_claim_check() -> None:
    resources = _claim_check_front_on_cloud_run(_recorded("big-jobs"))
    assert _fired(resources, PLANS["big-jobs"]()) == set()


def test_a_front_with_exactly_the_claim_check_variables_carries_big_jobs() -> None:
    def only_claim_variables(inputs: dict[str, Any]) -> None:
        env = inputs["serviceConfig"]["environmentVariables"]
        inputs["serviceConfig"]["environmentVariables"] = {
            n: env[n] for n in (PAYLOAD_BUCKET_ENV, MESSAGE_BYTES_ENV)
        }

    resources = _mutate(_recorded("big-jobs"), "fn-submit", only_claim_variables)
    assert _fired(resources, PLANS["big-jobs"]()) == set()


def test_private_network_passes_once_a_service_has_vpc_access() -> None:
    vpc = {"egress": "ALL_TRAFFIC", "networkInterfaces": [{"network": "default"}]}
    resources = _mutate(_recorded("private"), "svc-api", set_path("template.vpcAccess", vpc))
    assert "SVAI_GCP_018" not in _fired(resources, PLANS["private"]())
    assert "SVAI_GCP_018" in _fired(_recorded("private"), PLANS["private"]())


def test_a_function_without_max_instances_fires() -> None:
    resources = _mutate(
        _recorded("functions-jwt"), "fn-api", _drop("serviceConfig.maxInstanceCount")
    )
    assert _fired(resources, PLANS["functions-jwt"]()) == {"SVAI_GCP_009"}


def test_a_dead_letter_policy_without_a_topic_fires() -> None:
    resources = _mutate(
        _recorded("async-run-key"), "sub-jobs", _drop("deadLetterPolicy.deadLetterTopic")
    )
    assert _fired(resources, PLANS["async-run-key"]()) == {"SVAI_GCP_002"}


@pytest.mark.parametrize(("timeout_s", "fires"), [(10.0, False), (11.0, True)])
def test_pubsubs_default_ack_deadline_is_ten_seconds(timeout_s: float, fires: bool) -> None:
    plan = async_plan("gcp", "gcp.cloudrun.service", auth="api-key", worker_timeout_s=timeout_s)
    backend = GcpBackend(billing_account=BILLING)
    resources = record(lambda: backend.program(plan))
    resources = _mutate(resources, "sub-jobs", _drop("ackDeadlineSeconds"))
    assert ("SVAI_GCP_007" in _fired(resources, plan)) is fires


def test_an_alert_policy_without_conditions_alerts_on_nothing() -> None:
    resources = _mutate(_recorded("run-iam"), "alert-error-rate", _drop("conditions"))
    assert _fired(resources, PLANS["run-iam"]()) == {"SVAI_GCP_008"}
