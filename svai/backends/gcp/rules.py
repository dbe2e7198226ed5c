"""GCP rules (``SVAI_GCP_###``) over the resources the GCP backend recorded.

Each rule names the closest Checkov id where one exists. Defaults of the backend pass every
high rule; ``tests/backends/test_gcp_rules.py`` holds, for every rule, a mutant that makes
exactly that rule fire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from svai.backends.base import Finding, RecordedResource, Rule
from svai.backends.claims import MESSAGE_BYTES_ENV, PAYLOAD_BUCKET_ENV, PREFIX, message_limit
from svai.backends.gcp import tokens as T
from svai.backends.gcp.lowering import GPU_MINIMUMS, PUSH_ACK_MAX_S
from svai.backends.rules import by_type, egress_not_built, fail, get_path, oversized_jobs
from svai.ir import DeploymentPlan

__all__ = ["PRIMITIVE_ROLES", "PUBLIC_MEMBERS", "RULES"]

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
_INVOKER_TOKENS = (T.RUN_IAM, T.VERTEX_ENDPOINT_IAM)
_LABELLED = (T.BUCKET, T.RUN_SERVICE, T.FUNCTION, T.TOPIC, T.VERTEX_ENDPOINT, T.REGISTRY)

Resources = Sequence[RecordedResource]


def _public_invoker(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for r in by_type(resources, *_INVOKER_TOKENS):
        member = r.inputs.get("member")
        if member == "allAuthenticatedUsers" or (
            member == "allUsers" and plan.entry.auth != "none"
        ):
            yield fail(f"{member} may invoke {r.inputs.get('name') or r.name}", r.name)


def _dead_letter(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    if plan.mode != "async":
        return
    subs = by_type(resources, T.SUBSCRIPTION)
    pushed = [s for s in subs if get_path(s.inputs, "pushConfig.pushEndpoint")]
    if not pushed and not [s for s in subs if "deadLetterPolicy" in s.inputs]:
        yield fail("no job subscription with a dead-letter policy")
    for sub in pushed:
        topic = get_path(sub.inputs, "deadLetterPolicy.deadLetterTopic")
        attempts = get_path(sub.inputs, "deadLetterPolicy.maxDeliveryAttempts")
        if not topic or not isinstance(attempts, int) or not 5 <= attempts <= 100:
            yield fail("job subscription has no dead-letter topic with 5-100 attempts", sub.name)


def _primitive_roles(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for r in by_type(resources, *T.IAM_TOKENS):
        role = r.inputs.get("role")
        if role in PRIMITIVE_ROLES:
            yield fail(f"primitive role {role} granted to {r.inputs.get('member')}", r.name)


def _bucket_public(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for bucket in by_type(resources, T.BUCKET):
        if bucket.inputs.get("publicAccessPrevention") != "enforced":
            yield fail("public access prevention is not enforced", bucket.name)
    for grant in by_type(resources, T.BUCKET_IAM):
        if grant.inputs.get("member") in PUBLIC_MEMBERS:
            yield fail(f"bucket readable by {grant.inputs.get('member')}", grant.name)


def _bucket_uniform(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for bucket in by_type(resources, T.BUCKET):
        if bucket.inputs.get("uniformBucketLevelAccess") is not True:
            yield fail("uniform bucket-level access is off (object ACLs apply)", bucket.name)


def _bucket_versioning(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for bucket in by_type(resources, T.BUCKET):
        if get_path(bucket.inputs, "versioning.enabled") is not True:
            yield fail("versioning is off: an overwritten model version is lost", bucket.name)


def _worker_timeout(plan: DeploymentPlan) -> float | None:
    try:
        return plan.service("worker").compute.timeout_s
    except KeyError:
        return None


def _ack_deadline(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    timeout = _worker_timeout(plan)
    if plan.mode != "async" or timeout is None:
        return
    for sub in by_type(resources, T.SUBSCRIPTION):
        if not get_path(sub.inputs, "pushConfig.pushEndpoint"):
            continue
        ack = sub.inputs.get("ackDeadlineSeconds", 10)
        if not isinstance(ack, int | float) or ack < math.ceil(timeout):
            yield fail(
                f"ack deadline {ack} s < worker timeout {timeout:g} s: a running job is "
                f"redelivered (push allows at most {PUSH_ACK_MAX_S} s)",
                sub.name,
            )


_ALARM_METRICS = {
    "latency_p95": ("request_latencies", "prediction_latencies"),
    "latency_p99": ("request_latencies", "prediction_latencies"),
    "error_rate": ('response_code_class = "5xx"', "error_count"),
    "queue_age": ("oldest_unacked_message_age",),
    "dlq_depth": ("num_undelivered_messages",),
}


def _alerts(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    filters = [
        str(get_path(c, "conditionThreshold.filter", ""))
        for policy in by_type(resources, T.ALERT_POLICY)
        for c in policy.inputs.get("conditions", [])
    ]
    for alarm in plan.alarms:
        needles = _ALARM_METRICS.get(alarm.metric)
        if needles and not any(n in f for f in filters for n in needles):
            yield fail(f"no alert policy for {alarm.name} ({alarm.metric})")


def _max_instances(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for svc in by_type(resources, T.RUN_SERVICE):
        if not get_path(svc.inputs, "template.scaling.maxInstanceCount"):
            yield fail("no max instance count: scaling is unbounded", svc.name)
        if not get_path(svc.inputs, "template.maxInstanceRequestConcurrency"):
            yield fail("no per-instance request concurrency", svc.name)
    for fn in by_type(resources, T.FUNCTION):
        if not get_path(fn.inputs, "serviceConfig.maxInstanceCount"):
            yield fail("no max instance count: scaling is unbounded", fn.name)


def _cmek(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    if not plan.encryption.customer_key:
        return
    paths = {
        T.BUCKET: "encryption.defaultKmsKeyName",
        T.TOPIC: "kmsKeyName",
        T.REGISTRY: "kmsKeyName",
        T.VERTEX_ENDPOINT: "encryptionSpec.kmsKeyName",
    }
    for r in by_type(resources, *paths):
        if not get_path(r.inputs, paths[r.type]):
            yield fail("the spec's customer-managed key is not used", r.name)


def _retry_policy(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for sub in by_type(resources, T.SUBSCRIPTION):
        if get_path(sub.inputs, "pushConfig.pushEndpoint") and not get_path(
            sub.inputs, "retryPolicy.minimumBackoff"
        ):
            yield fail("immediate redelivery: no exponential backoff", sub.name)


def _push_auth(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for sub in by_type(resources, T.SUBSCRIPTION):
        if get_path(sub.inputs, "pushConfig.pushEndpoint") and not get_path(
            sub.inputs, "pushConfig.oidcToken.serviceAccountEmail"
        ):
            yield fail("push without an OIDC token: the worker must accept anyone", sub.name)


def _plain_secrets(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    secret_envs = {s.env for s in plan.secrets}
    for svc in by_type(resources, T.RUN_SERVICE):
        for container in get_path(svc.inputs, "template.containers", []) or []:
            for env in container.get("envs", []) or []:
                if env.get("name") in secret_envs and "value" in env:
                    yield fail(f"secret {env['name']} passed as a plain value", svc.name)
    for fn in by_type(resources, T.FUNCTION):
        plain = get_path(fn.inputs, "serviceConfig.environmentVariables", {}) or {}
        for name in sorted(secret_envs & set(plain)):
            yield fail(f"secret {name} passed as a plain value", fn.name)


def _budget(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    if plan.budget is not None and not by_type(resources, T.BUDGET):
        yield fail("the spec sets a budget but no billing budget was created")


def _labels(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for r in by_type(resources, *_LABELLED):
        labels = r.inputs.get("labels") or {}
        if "svai-model-version" not in labels:
            yield fail("no svai-model-version label", r.name)
        for key, value in labels.items():
            if not _LABEL.fullmatch(key) or not _LABEL_VALUE.fullmatch(str(value)):
                yield fail(f"label {key}={value} breaks GCP label rules", r.name)


_LABEL = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def _gpu(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for svc in by_type(resources, T.RUN_SERVICE):
        accelerator = get_path(svc.inputs, "template.nodeSelector.accelerator")
        if not accelerator:
            continue
        container = get_path(svc.inputs, "template.containers.0", {}) or {}
        limits = get_path(container, "resources.limits", {}) or {}
        min_cpu, min_mem = GPU_MINIMUMS.get(accelerator, (0.0, 0))
        problems = []
        if get_path(container, "resources.cpuIdle") is not False:
            problems.append("CPU must stay allocated")
        if "nvidia.com/gpu" not in limits:
            problems.append("no nvidia.com/gpu limit")
        if _cpu(limits.get("cpu")) < min_cpu or _mib(limits.get("memory")) < min_mem:
            problems.append(f"needs >= {min_cpu:g} vCPU and {min_mem} MiB")
        if get_path(svc.inputs, "template.executionEnvironment") != "EXECUTION_ENVIRONMENT_GEN2":
            problems.append("GPU needs the gen2 execution environment")
        for problem in problems:
            yield fail(f"GPU service: {problem}", svc.name)


def _cpu(value: Any) -> float:
    text = str(value or "0")
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _mib(value: Any) -> int:
    text = str(value or "0")
    for suffix, factor in (("Gi", 1024.0), ("Mi", 1.0), ("G", 1e9 / 2**20), ("M", 1e6 / 2**20)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(float(text) / 1048576)


def _private_network(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    services = by_type(resources, T.RUN_SERVICE)
    if plan.private_network and not any(s.inputs["template"].get("vpcAccess") for s in services):
        yield fail(
            "security.network.private is set, but the GCP backend does not give the services "
            "VPC egress or internal-only ingress yet: they are reached through IAM-authenticated "
            "public ingress and call Google APIs over their public endpoints"
        )


def _egress(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    services = by_type(resources, T.RUN_SERVICE)
    denied = any(
        f.inputs.get("direction") == "EGRESS"
        and f.inputs.get("destinationRanges") == ["0.0.0.0/0"]
        and f.inputs.get("denies")
        for f in by_type(resources, T.FIREWALL)
    )
    google = any(s.inputs.get("privateIpGoogleAccess") for s in by_type(resources, T.SUBNETWORK))
    functions = by_type(resources, T.FUNCTION)
    built = (
        bool(services or functions)
        and all(get_path(s.inputs, "template.vpcAccess.egress") == "ALL_TRAFFIC" for s in services)
        and all(
            get_path(f.inputs, "serviceConfig.directVpcEgress") == "VPC_EGRESS_ALL_TRAFFIC"
            for f in functions
        )
        and denied
        and google
    )
    if by_type(resources, T.VERTEX_ENDPOINT):
        yield from egress_not_built(
            plan,
            False,
            "a Vertex AI prediction container runs in Google's tenant project: only a private "
            "endpoint over VPC peering routes its egress through the deployment's network (and "
            "takes the endpoint off the internet, where svai's API Gateway calls it), and only "
            "VPC Service Controls denies it the internet, with a perimeter in an "
            "organization-level access policy that a deployment cannot create",
        )
    else:
        yield from egress_not_built(
            plan,
            built,
            "the Cloud Run services and functions do not all send their traffic into a VPC with "
            "Private Google Access and a deny-by-default egress firewall",
        )


def _env_names(resource: RecordedResource) -> set[str]:
    containers = get_path(resource.inputs, "template.containers", []) or []
    names = {str(e.get("name")) for c in containers for e in c.get("envs", []) or []}
    return names | set(get_path(resource.inputs, "serviceConfig.environmentVariables", {}) or {})


def _job_size(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    # Built: a lifecycle rule expires the stored bodies, and the front knows the bucket and limit.
    expiring = any(
        PREFIX in (get_path(rule, "condition.matchesPrefixes") or [])
        for bucket in by_type(resources, T.BUCKET)
        for rule in bucket.inputs.get("lifecycleRules", []) or []
    )
    fronts = [
        r
        for r in by_type(resources, T.RUN_SERVICE, T.FUNCTION)
        if {PAYLOAD_BUCKET_ENV, MESSAGE_BYTES_ENV} <= _env_names(r)
    ]
    if not (expiring and fronts):
        yield from oversized_jobs(plan, message_limit("gcp"), "Pub/Sub")


def _dedicated_identity(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for svc in by_type(resources, T.RUN_SERVICE):
        account = get_path(svc.inputs, "template.serviceAccount")
        if not account or "-compute@developer.gserviceaccount.com" in str(account):
            yield fail("runs as the default compute service account", svc.name)
    for fn in by_type(resources, T.FUNCTION):
        account = get_path(fn.inputs, "serviceConfig.serviceAccountEmail")
        if not account or "-compute@developer.gserviceaccount.com" in str(account):
            yield fail("runs as the default compute service account", fn.name)


RULES: tuple[Rule, ...] = (
    Rule(
        "SVAI_GCP_001",
        "high",
        "No public invoker unless the spec asks (auth: none)",
        _public_invoker,
        checkov="CKV_GCP_102",
        hint="grant roles/run.invoker to the gateway or named callers only",
    ),
    Rule(
        "SVAI_GCP_002",
        "high",
        "Async job subscriptions have a dead-letter topic",
        _dead_letter,
        hint="set deadLetterPolicy with maxDeliveryAttempts 5-100",
    ),
    Rule(
        "SVAI_GCP_003",
        "high",
        "No primitive roles (owner, editor, viewer)",
        _primitive_roles,
        checkov="CKV_GCP_117",
        hint="use a predefined role on the single resource",
    ),
    Rule(
        "SVAI_GCP_004",
        "high",
        "Artifact bucket is not public",
        _bucket_public,
        checkov="CKV_GCP_28",
        hint="publicAccessPrevention=enforced, no allUsers grants",
    ),
    Rule(
        "SVAI_GCP_005",
        "medium",
        "Artifact bucket uses uniform bucket-level access",
        _bucket_uniform,
        checkov="CKV_GCP_29",
    ),
    Rule(
        "SVAI_GCP_006",
        "medium",
        "Artifact bucket keeps object versions",
        _bucket_versioning,
        checkov="CKV_GCP_78",
    ),
    Rule(
        "SVAI_GCP_007",
        "high",
        "Pub/Sub ack deadline >= worker timeout",
        _ack_deadline,
        hint="keep the worker timeout <= 600 s on GCP (push ack deadline maximum)",
    ),
    Rule(
        "SVAI_GCP_008",
        "medium",
        "Alert policies exist for latency, errors, queue age, DLQ",
        _alerts,
    ),
    Rule(
        "SVAI_GCP_009",
        "high",
        "Max instances and per-instance concurrency are set",
        _max_instances,
        hint="set scaling.maxInstanceCount as the concurrency guard",
    ),
    Rule(
        "SVAI_GCP_010",
        "high",
        "The spec's customer-managed key encrypts data at rest",
        _cmek,
        checkov="CKV_GCP_83",
    ),
    Rule(
        "SVAI_GCP_011", "medium", "Job subscriptions retry with exponential backoff", _retry_policy
    ),
    Rule("SVAI_GCP_012", "medium", "Push deliveries carry an OIDC token", _push_auth),
    Rule(
        "SVAI_GCP_013",
        "high",
        "Secrets reach services only as Secret Manager references",
        _plain_secrets,
        hint="use valueSource.secretKeyRef / secretEnvironmentVariables",
    ),
    Rule(
        "SVAI_GCP_014",
        "medium",
        "A billing budget exists when the spec sets one",
        _budget,
        hint="set SVAI_GCP_BILLING_ACCOUNT so svai can create the budget",
    ),
    Rule("SVAI_GCP_015", "low", "Resources carry valid labels with the model version", _labels),
    Rule("SVAI_GCP_016", "high", "GPU services have the settings Cloud Run requires", _gpu),
    Rule(
        "SVAI_GCP_017", "high", "Each service runs as its own service account", _dedicated_identity
    ),
    Rule(
        "SVAI_GCP_018",
        "medium",
        "The private networking the spec asks for is in place",
        _private_network,
        hint="deploy this target without security.network.private, or add Direct VPC egress "
        "and internal ingress to the services yourself",
    ),
    Rule(
        "SVAI_GCP_019",
        "high",
        "The outbound restriction the spec declares is built",
        _egress,
        hint="deploy this target with security.network.egress: all, or serve the model from a "
        "Cloud Run service (overrides.offering: gcp.cloudrun.service; it takes a GPU) instead "
        "of Vertex AI, or put the project in a VPC Service Controls perimeter yourself",
    ),
    Rule(
        "SVAI_GCP_020",
        "high",
        "Async payloads fit the queue's message limit",
        _job_size,
        hint="lower api.max_payload to the queue's limit",
    ),
)
"""Every GCP rule, in id order."""
