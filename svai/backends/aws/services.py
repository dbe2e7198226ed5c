"""The service groups of AWS: ``FunctionService`` (Lambda) and ``Endpoint`` (SageMaker), pure.

Each service gets its execution role, its log group and one role policy granting exactly its
identity's permissions, rendered over the ARNs it names (:mod:`svai.backends.aws.policy`); then a
Lambda function with its ``live`` alias (and warm pool, and SQS trigger for a worker), or a
SageMaker model, endpoint configuration, endpoint and scaling. A resource of service ``s`` has
the key ``s:<part>`` (``api:role``, ``api:fn``, ``api:alias``), so a test reads the links
between them off the blueprint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from svai.backends.aws import arguments as args
from svai.backends.aws import claims, deployments, network, start_fetch
from svai.backends.aws.foundation import Links
from svai.backends.aws.policy import metric_namespace, policy_document, statements
from svai.backends.blueprint import Concat, Group, Ref, Rendered
from svai.backends.blueprint import ResourceSpec as Spec
from svai.backends.claims import MESSAGE_BYTES_ENV, message_limit
from svai.backends.start_fetch import BUCKET_ENV
from svai.ir import DeploymentPlan, Identity, Permission, Service
from svai.runtime.cloud.secrets import PREFIX as SECRET_ENV_PREFIX

__all__ = [
    "Extra",
    "endpoint_group",
    "endpoint_identity",
    "function_group",
    "proxy_identity",
    "secret_arn",
]

_PROXY_ACTIONS = frozenset({"queue.consume", "queue.send", "store.read", "store.write"})
"""What the proxy function in front of an endpoint does itself (the endpoint does the rest)."""
_ENDPOINT_ACTIONS = frozenset(
    {"artifact.read", "secret.read", "key.use", "logs.write", "metrics.write"}
)

_ROLE = "aws:iam/role:Role"
_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
_LAMBDA = "aws:lambda/"
_SAGEMAKER = "aws:sagemaker/"
_LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
_SAGEMAKER_TRUST = _LAMBDA_TRUST.replace("lambda.amazonaws.com", "sagemaker.amazonaws.com")
_XRAY = {
    # Active tracing needs these; X-Ray offers no resource-level permissions for them.
    "Sid": "XRayTraces",
    "Effect": "Allow",
    "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
    "Resource": "*",
}


@dataclass(frozen=True)
class Extra:
    """What a function reads beyond the shared groups (an endpoint in front of it).

    Attributes:
        arns: Logical resource -> ARN (an endpoint's ``service:<name>``).
        env: Extra environment variables (the endpoint's name, the stream URL).
        previous_version: Lambda version number of the previous model version, for weighted
            routing while a release is in progress.
        controller_routes: svai's gate job or CodeDeploy routes the ``live`` alias once it
            exists (its split is then ``ignore_changes``).
    """

    arns: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    previous_version: str | None = None
    controller_routes: bool = False


def endpoint_identity(identity: Identity) -> Identity:
    """What an endpoint's own role keeps of its service's permissions."""
    return Identity(
        identity.service, tuple(p for p in identity.permissions if p.action in _ENDPOINT_ACTIONS)
    )


def proxy_identity(plan: DeploymentPlan, service: Service, identity: Identity) -> Identity:
    """Permissions of the function in front of an endpoint ``service``.

    It invokes the endpoint and does the queue and store work the plan gives ``service``;
    the endpoint's own role keeps the artifact and secrets.
    """
    name = f"{service.name}-proxy"
    grants = [
        Permission("logs.write", f"logs:{name}"),
        Permission("metrics.write", "metrics"),
        Permission("key.use", "key"),
        Permission("model.invoke", f"service:{service.name}"),
    ]
    grants += [p for p in identity.permissions if p.action in _PROXY_ACTIONS]
    return Identity(name, tuple(grants))


def secret_arn(ref: str, region: str, account: Any) -> Any:
    """The ARN that ``secretsmanager:GetSecretValue`` is granted on for a secret reference.

    A full ARN is used as is; a name matches the ARN Secrets Manager gives it (name plus a
    six-character suffix).
    """
    if ref.startswith("arn:"):
        return ref
    return Concat(("arn:aws:secretsmanager:", region, ":", account, ":secret:", ref, "-??????"))


def function_group(
    link: Links,
    service: Service,
    identity: Identity,
    extra: Extra | None = None,
) -> Group:
    """The ``FunctionService`` group of ``service``: role, policy, logs, function, ``live`` alias.

    Args:
        link: The shared groups' links.
        service: The service (a zip or image Lambda).
        identity: Its permissions (exactly these, nothing more).
        extra: What it reads beyond the shared groups.
    """
    extra = extra or Extra()
    plan = link.plan
    s = service.name
    role = Ref(f"{s}:role", "id")
    specs = _role_and_logs(link, service, trust=_LAMBDA_TRUST, runs="function")
    arns = {**_arns(link, identity, s), **extra.arns}
    specs.append(_role_policy(link, s, identity, arns, extra=[_XRAY]))
    environment = {**_environment(link, identity), **extra.env}
    ready = [f"{s}:policy", f"{s}:logs"]
    if plan.queue is not None:
        payloads = claims.grant_payloads(
            f"{s}:payloads",
            f"{plan.name}-{s}-job-payloads",
            service.role,
            role,
            link.bucket_arn,
            link.key_arn,
        )
        if payloads is not None:
            specs.append(payloads)
            ready.append(payloads.key)
            environment[claims.PAYLOAD_BUCKET_ENV] = link.bucket_name
        if service.role == "submit":  # above SQS's limit (the catalog's), a claim check
            environment[MESSAGE_BYTES_ENV] = str(message_limit("aws"))
    if link.network:
        access = network.grant(
            f"{s}:vpc-access", f"{plan.name}-{s}-vpc-access", role, link.account, plan.region
        )
        specs.append(access)
        ready.append(access.key)
    fn_args = args.function_args(
        plan,
        service,
        role_arn=Ref(f"{s}:role", "arn"),
        key_arn=link.key_arn,
        log_group=Ref(f"{s}:logs", "name"),
        code_bucket=link.bucket_name,
        code_key=link.code_keys.get(s),
        image_uri=link.image_uri if link.images else None,
        environment=environment,
    )
    if link.network:
        fn_args["vpc_config"] = network.vpc_config()
    fn_token = f"{_LAMBDA}function:Function"
    specs.append(Spec(f"{s}:fn", fn_token, f"{plan.name}-{s}-fn", fn_args, (), tuple(ready)))
    specs += _live_alias(plan, service, extra)
    if service.role == "worker":
        trigger = args.event_source_args(
            plan, service, queue_arn=Ref("jobs", "arn"), function=Ref(f"{s}:alias", "arn")
        )
        token = f"{_LAMBDA}eventSourceMapping:EventSourceMapping"
        specs.append(Spec(f"{s}:trigger", token, f"{plan.name}-{s}-trigger", trigger))
    return Group("FunctionService", f"{plan.name}-{s}", tuple(specs))


def _live_alias(plan: DeploymentPlan, service: Service, extra: Extra) -> list[Spec]:
    """The ``live`` alias every caller invokes (split while a release runs), and its warm pool."""
    s = service.name
    function = Ref(f"{s}:fn", "name")
    weights = args.traffic_weights(plan, extra.previous_version)
    pinned = args.alias_version(plan, extra.previous_version)
    alias = {
        "name": args.LIVE_ALIAS,
        "function_name": function,
        "function_version": pinned if pinned is not None else Ref(f"{s}:fn", "version"),
        "routing_config": {"additional_version_weights": weights} if weights else None,
    }
    specs = [
        Spec(
            f"{s}:alias",
            f"{_LAMBDA}alias:Alias",
            f"{plan.name}-{s}-live",
            alias,
            # Once created, the gate job routes the alias; `svai apply` routes it through the
            # same call (svai.controller.traffic), never by undoing the job's split here.
            ignore_changes=(tuple(deployments.CONTROLLED) if extra.controller_routes else ()),
        )
    ]
    compute = service.compute
    if compute.min_instances > 0:
        warm = {
            "function_name": function,
            "qualifier": Ref(f"{s}:alias", "name"),
            "provisioned_concurrent_executions": min(compute.min_instances, compute.max_instances),
        }
        token = f"{_LAMBDA}provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
        specs.append(Spec(f"{s}:warm", token, f"{plan.name}-{s}-warm", warm))
    return specs


def endpoint_group(link: Links, service: Service, identity: Identity) -> Group:
    """The ``Endpoint`` group of ``service``: role, policies, logs, models, config, endpoint."""
    plan = link.plan
    s = service.name
    group_name = f"{plan.name}-{s}"
    name = args.endpoint_name(plan, s)
    tags = args.tags(plan, **{"svai-service": s})
    role = Ref(f"{s}:role", "id")
    specs = _role_and_logs(link, service, trust=_SAGEMAKER_TRUST, runs="endpoint")
    repo_arn = Concat(
        ("arn:aws:ecr:", plan.region, ":", link.account, ":repository/svai/", plan.name)
    )
    arns = {**_arns(link, identity, s), "ecr": repo_arn}
    specs.append(_role_policy(link, s, identity, arns, extra=[]))
    pull = Rendered((repo_arn,), lambda values: json.dumps(_ecr_pull(values[0]), sort_keys=True))
    specs.append(
        Spec(
            f"{s}:image-pull",
            _ROLE_POLICY,
            f"{plan.name}-{s}-image-pull",
            {"role": role, "policy": pull},
        )
    )
    environment = _environment(link, identity)
    ready = [f"{s}:policy", f"{s}:image-pull"]
    if link.model_keys:  # the runtime fetches the weights at start: read on them only
        read = start_fetch.grant_model_read(
            f"{s}:model-read", f"{plan.name}-{s}-model-read", role, link.bucket_arn, link.model_keys
        )
        specs.append(read)
        ready.append(read.key)
        environment[BUCKET_ENV] = link.bucket_name
    placement: dict[str, Any] = {}
    if link.network and service.compute.offering != args.SERVERLESS:
        # Restricted egress: the model's container runs in the private subnets, HTTPS to the
        # VPC endpoints only (Serverless Inference takes no VPC configuration: SVAI_AWS_035).
        access = network.grant(
            f"{s}:vpc-access",
            f"{plan.name}-{s}-vpc-access",
            role,
            link.account,
            plan.region,
            runs="endpoint",
        )
        specs.append(access)
        ready.append(access.key)
        placement["vpc_config"] = network.model_vpc_config()
        # Network isolation cuts the container off entirely (no network, no credentials).
        # SageMaker still pulls the image and downloads model_data_url itself, outside the
        # container, so an isolated model serves; but svai's start-time fetch (the weights
        # the build left out, read from the bucket through the S3 gateway endpoint) and the
        # cold-start secret reads (Secrets Manager's interface endpoint) run inside it.
        # Isolate exactly when the container needs neither.
        placement["enable_network_isolation"] = not (
            link.model_keys or any(key.startswith(SECRET_ENV_PREFIX) for key in environment)
        )

    models, others = _models(link, service, environment, placement, tuple(ready))
    specs += models
    config = args.endpoint_config_args(
        plan,
        service,
        model_name=Ref(f"{s}:model", "name"),
        key_arn=link.key_arn,
        other_models=others,
    )
    token = f"{_SAGEMAKER}endpointConfiguration:EndpointConfiguration"
    specs.append(Spec(f"{s}:config", token, f"{plan.name}-{s}-config", config))
    alarms, guardrails = deployments.endpoint_deployment_config(plan, service, name)
    specs += alarms  # the release's alarms, which the guardrails name
    endpoint = {
        "name": name,
        "endpoint_config_name": Ref(f"{s}:config", "name"),
        "deployment_config": guardrails,
        "tags": tags,
    }
    specs.append(
        Spec(
            f"{s}:endpoint",
            f"{_SAGEMAKER}endpoint:Endpoint",
            f"{plan.name}-{s}-endpoint",
            endpoint,
            depends_on=(f"{s}:logs",),
        )
    )
    specs += _scaling(plan, service, name)
    return Group("Endpoint", group_name, tuple(specs))


def _models(
    link: Links,
    service: Service,
    environment: Mapping[str, Any],
    placement: Mapping[str, Any],
    ready: tuple[str, ...],
) -> tuple[list[Spec], dict[str, Ref]]:
    """The endpoint's model, and one per other version of the rollout split (by version)."""
    plan = link.plan
    s = service.name
    name = args.endpoint_name(plan, s)
    tags = args.tags(plan, **{"svai-service": s})

    def container(image: Any, key: str, **env: str) -> dict[str, Any]:
        return {
            "image": image,
            "model_data_url": Concat(("s3://", link.bucket_name, "/", key)),
            "environment": {**dict(service.env), **environment, **env},
        }

    model = {
        "name": name,
        "execution_role_arn": Ref(f"{s}:role", "arn"),
        "primary_container": container(link.image_uri, plan.artifact.object_key),
        **placement,
        "tags": tags,
    }
    model_token = f"{_SAGEMAKER}model:Model"
    specs = [Spec(f"{s}:model", model_token, f"{plan.name}-{s}-model", model, (), ready)]
    # Every other version of the rollout split keeps its own model (its artifact and image
    # are immutable under its version id), so its variant can take a share of the traffic.
    others: dict[str, Ref] = {}
    for version, _ in args.variant_versions(plan, service):
        if version == plan.model_version:
            continue
        key = plan.artifact.object_key.replace(plan.model_version, version)
        artifact = {"SVAI_ARTIFACT_KEY": key} if "SVAI_ARTIFACT_KEY" in environment else {}
        image = Concat((link.repository_url, ":", version))
        other = {
            "name": f"{name}-{version}"[:63],
            "execution_role_arn": Ref(f"{s}:role", "arn"),
            "primary_container": container(image, key, SVAI_MODEL_VERSION=version, **artifact),
            **placement,
            "tags": {**tags, "svai-model-version": version},
        }
        other_key = f"{s}:model:{version}"
        specs.append(
            Spec(other_key, model_token, f"{plan.name}-{s}-model-{version}", other, (), ready)
        )
        others[version] = Ref(other_key, "name")
    return specs, others


def _scaling(plan: DeploymentPlan, service: Service, name: str) -> list[Spec]:
    """The endpoint variant's scaling target and target-tracking policy, if it scales."""
    scaling = args.scaling_args(service)
    if scaling is None:
        return []
    s = service.name
    target_args, policy_args = scaling
    resource_id = Rendered(
        (Ref(f"{s}:endpoint", "name"),),
        lambda names: f"endpoint/{names[0]}/variant/{args.LIVE_ALIAS}",
    )
    target = {
        "service_namespace": "sagemaker",
        "resource_id": resource_id,
        "tags": args.tags(plan),
        **target_args,
    }
    policy = {
        "name": f"{name}-target-tracking",
        "service_namespace": Ref(f"{s}:scaling", "service_namespace"),
        "resource_id": Ref(f"{s}:scaling", "resource_id"),
        "scalable_dimension": Ref(f"{s}:scaling", "scalable_dimension"),
        **policy_args,
    }
    token = "aws:appautoscaling/"
    return [
        Spec(f"{s}:scaling", f"{token}target:Target", f"{plan.name}-{s}-scaling", target),
        Spec(
            f"{s}:scaling-policy",
            f"{token}policy:Policy",
            f"{plan.name}-{s}-scaling-policy",
            policy,
        ),
    ]


def _role_and_logs(link: Links, service: Service, *, trust: str, runs: str) -> list[Spec]:
    """The execution role ``service`` ``runs`` as (a function, an endpoint) and its log group."""
    plan = link.plan
    s = service.name
    tags = args.tags(plan, **{"svai-service": s})
    logs = (
        f"/aws/lambda/{args.function_name(plan, s)}"
        if runs == "function"
        else f"/aws/sagemaker/Endpoints/{args.endpoint_name(plan, s)}"
    )
    role = {
        "assume_role_policy": trust,
        "description": f"svai {plan.name}: {s} {runs}",
        "tags": tags,
    }
    group = {
        "name": logs,
        "retention_in_days": plan.log_retention_days,
        "kms_key_id": link.key_arn,
        "tags": tags,
    }
    return [
        Spec(f"{s}:role", _ROLE, f"{plan.name}-{s}-role", role),
        Spec(f"{s}:logs", _LOG_GROUP, f"{plan.name}-{s}-logs", group),
    ]


def _role_policy(
    link: Links,
    s: str,
    identity: Identity,
    arns: Mapping[str, Any],
    *,
    extra: Sequence[dict[str, Any]],
) -> Spec:
    """The role policy granting exactly ``identity``'s permissions on ``arns``."""
    names = tuple(sorted(arns))
    namespace = metric_namespace(link.plan.name)

    def render(values: tuple[Any, ...]) -> str:
        resolved = dict(zip(names, values, strict=True))
        items = statements(identity, resolved, namespace=namespace)
        return json.dumps(policy_document([*items, *extra]), sort_keys=True)

    policy = Rendered(tuple(arns[n] for n in names), render)
    return Spec(
        f"{s}:policy",
        _ROLE_POLICY,
        f"{link.plan.name}-{s}-policy",
        {"role": Ref(f"{s}:role", "id"), "policy": policy},
    )


def _arns(link: Links, identity: Identity, s: str) -> dict[str, Any]:
    """Logical resource -> ARN(s) for every resource ``identity`` names."""
    plan = link.plan
    result: dict[str, Any] = {}
    for permission in identity.permissions:
        name = permission.resource
        if name in result or permission.action == "metrics.write":
            continue
        if name == "artifact":
            result[name] = Concat((link.bucket_arn, "/", plan.artifact.object_key))
        elif name == "key":
            result[name] = link.key_arn
        elif name in ("queue", "dlq") and plan.mode == "async":
            result[name] = Ref("jobs" if name == "queue" else "dlq", "arn")
        elif name.startswith("store:"):
            result[name] = link.table(name.split(":", 1)[1], "arn")
        elif name.startswith("secret:"):
            ref = next(x.ref for x in plan.secrets if x.env == name.split(":", 1)[1])
            result[name] = secret_arn(ref, plan.region, link.account)
        elif name.startswith("logs:"):
            result[name] = Rendered(
                (Ref(f"{s}:logs", "arn"),), lambda arns: [arns[0], f"{arns[0]}:*"]
            )
    return result


def _environment(link: Links, identity: Identity) -> dict[str, Any]:
    """Environment variables naming (never containing) what ``identity`` may use."""
    plan = link.plan
    env: dict[str, Any] = {
        "SVAI_METRICS_NAMESPACE": metric_namespace(plan.name),
        "SVAI_MAX_PAYLOAD_BYTES": str(plan.entry.max_payload_bytes),
    }
    for permission in identity.permissions:
        name = permission.resource
        if name == "artifact":
            env["SVAI_ARTIFACT_BUCKET"] = link.bucket_name
            env["SVAI_ARTIFACT_KEY"] = plan.artifact.object_key
        elif name == "queue" and plan.mode == "async":
            env["SVAI_QUEUE_URL"] = Ref("jobs", "url")
        elif name.startswith("store:"):
            store = name.split(":", 1)[1]
            env[f"SVAI_{store.upper()}_TABLE"] = link.table(store, "name")
        elif name.startswith("secret:"):
            key = name.split(":", 1)[1]
            env[f"{SECRET_ENV_PREFIX}{key}"] = next(x.ref for x in plan.secrets if x.env == key)
    return env


def _ecr_pull(repository_arn: str) -> dict[str, Any]:
    return policy_document(
        [
            {
                "Sid": "PullImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": repository_arn,
            },
            {
                # GetAuthorizationToken has no resource-level permissions.
                "Sid": "RegistryToken",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": "*",
            },
        ]
    )
