"""AWS resource construction: one ``pulumi.ComponentResource`` per deployment shape.

Each component takes the plan plus the outputs of the components it depends on, creates its
children with ``parent=self`` from the pure argument dicts of :mod:`svai.backends.aws.lowering`
and :mod:`svai.backends.aws.policy`, and registers the outputs other components (and ``svai
apply``) read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from svai.backends import components
from svai.backends.aws import deployments
from svai.backends.aws import lowering as args
from svai.backends.aws.claims import PAYLOAD_BUCKET_ENV, expire_payloads, grant_payloads
from svai.backends.aws.network import PrivateNetwork
from svai.backends.aws.policy import metric_namespace, policy_document, statements
from svai.backends.aws.provider import AWS, AwsResource, res
from svai.backends.aws.start_fetch import grant_model_read, upload_model_objects
from svai.backends.claims import MESSAGE_BYTES_ENV, message_limit
from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.images import IMAGE, image_args
from svai.backends.start_fetch import BUCKET_ENV, model_objects
from svai.backends.tokens import Creator, by_package
from svai.ir import DeploymentPlan, Identity, Service, Store
from svai.runtime.cloud.secrets import PREFIX as SECRET_ENV_PREFIX

__all__ = [
    "Endpoint",
    "Foundation",
    "FunctionService",
    "HttpApi",
    "JobQueue",
    "KeyValueStore",
    "monitoring",
    "secret_arn",
]

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


def _child(parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **extra)


def secret_arn(ref: str, region: str, account: pulumi.Input[str]) -> pulumi.Output[str]:
    """The ARN that ``secretsmanager:GetSecretValue`` is granted on for a secret reference.

    A full ARN is used as is; a name matches the ARN Secrets Manager gives it (name plus a
    six-character suffix).
    """
    if ref.startswith("arn:"):
        return pulumi.Output.from_input(ref)
    return pulumi.Output.concat(
        "arn:aws:secretsmanager:", region, ":", account, ":secret:", ref, "-??????"
    )


class Foundation(pulumi.ComponentResource):
    """The KMS key, the artifact bucket (and the objects the services load) and the image repo."""

    key_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str] | None
    image_uri: pulumi.Output[str] | None
    code_keys: dict[str, str]

    def __init__(
        self,
        plan: DeploymentPlan,
        *,
        account: pulumi.Input[str],
        build_dir: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Create the shared resources of ``plan``.

        Args:
            plan: The deployment plan.
            account: The AWS account id (for the key policy and ARNs).
            build_dir: Where the packaged model and function zips are (uploaded on apply).
            opts: Pulumi options of the component.
        """
        super().__init__("svai:aws:Foundation", f"{plan.name}-foundation", None, opts)
        tags = args.tags(plan)
        if plan.encryption.customer_key is not None:
            self.key_arn = pulumi.Output.from_input(plan.encryption.customer_key)
        else:
            key = res.kms.Key(
                f"{plan.name}-key",
                description=f"svai {plan.name}: data at rest",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=pulumi.Output.from_input(account).apply(
                    lambda acct: json.dumps(_key_policy(acct, plan.region), sort_keys=True)
                ),
                tags=tags,
                opts=_child(self),
            )
            res.kms.Alias(
                f"{plan.name}-key-alias",
                name=f"alias/svai/{plan.name}",
                target_key_id=key.key_id,
                opts=_child(self),
            )
            self.key_arn = key.arn

        bucket = res.s3.Bucket(
            f"{plan.name}-artifacts", force_destroy=False, tags=tags, opts=_child(self)
        )
        block = res.s3.BucketPublicAccessBlock(
            f"{plan.name}-artifacts-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=_child(self),
        )
        res.s3.BucketOwnershipControls(
            f"{plan.name}-artifacts-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=_child(self),
        )
        res.s3.BucketVersioning(
            f"{plan.name}-artifacts-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=_child(self),
        )
        encryption = res.s3.BucketServerSideEncryptionConfiguration(
            f"{plan.name}-artifacts-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": self.key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=_child(self),
        )
        res.s3.BucketPolicy(
            f"{plan.name}-artifacts-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(_tls_only(arn), sort_keys=True)),
            opts=_child(self, depends_on=[block]),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        if plan.queue is not None:  # job bodies above SQS's limit wait here (claim checks)
            expire_payloads(plan, bucket.id, _child(self))

        object_opts = _child(self, depends_on=[encryption])
        res.s3.BucketObjectv2(
            f"{plan.name}-model",
            bucket=bucket.id,
            key=plan.artifact.object_key,
            source=pulumi.FileAsset(f"{build_dir}/model.tar.gz"),
            server_side_encryption="aws:kms",
            kms_key_id=self.key_arn,
            tags=tags,
            opts=object_opts,
        )
        # model.fetch: start: the weights the build left out, by digest (svai.backends.start_fetch).
        self.model_keys = upload_model_objects(
            plan.name, model_objects(build_dir), bucket.id, self.key_arn, tags, object_opts
        )
        self.code_keys = {}
        for service in _zip_functions(plan):
            key_name = f"{plan.name}/{plan.model_version}/lambda/{service}.zip"
            res.s3.BucketObjectv2(
                f"{plan.name}-{service}-code",
                bucket=bucket.id,
                key=key_name,
                # Every zip function of a target runs from its one reproducible code zip.
                source=pulumi.FileAsset(f"{build_dir}/function.zip"),
                server_side_encryption="aws:kms",
                kms_key_id=self.key_arn,
                tags=tags,
                opts=object_opts,
            )
            self.code_keys[service] = key_name

        self.repository_url = None
        self.image_uri = None
        if any(s.compute.package in ("image", "model") for s in plan.services):
            repo = res.ecr.Repository(
                f"{plan.name}-images",
                name=f"svai/{plan.name}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": self.key_arn}],
                force_delete=False,
                tags=tags,
                opts=_child(self),
            )
            res.ecr.RepositoryPolicy(
                f"{plan.name}-images-lambda-pull",
                repository=repo.name,
                policy=pulumi.Output.from_input(account).apply(
                    lambda acct: json.dumps(_lambda_pull(plan, acct), sort_keys=True)
                ),
                opts=_child(self),
            )
            self.repository_url = repo.repository_url
            # svai build's container context, built and pushed on apply (pulumi-docker-build);
            # what runs it reads the tag through the image, so the push happens first.
            tag = pulumi.Output.concat(repo.repository_url, ":", plan.model_version)
            image = DOCKER_BUILD.create(
                IMAGE, f"{plan.name}-image", image_args([tag], build_dir), opts=_child(self)
            )
            self.image_uri = pulumi.Output.all(image.urn, tag).apply(lambda pair: str(pair[1]))
        self.register_outputs(
            {"key_arn": self.key_arn, "bucket": self.bucket_name, "bucket_arn": self.bucket_arn}
        )


def _zip_functions(plan: DeploymentPlan) -> list[str]:
    """Names of the Lambda functions shipped as zips (endpoint services get a zip proxy)."""
    names = []
    for service in plan.services:
        if service.compute.package == "zip":
            names.append(service.name)
        elif service.compute.kind == "endpoint":
            names.append(f"{service.name}-proxy")
            if args.has_stream_url(plan, service):  # svai.backends.aws.streaming's function
                names.append(f"{service.name}-stream")
    return names


def _key_policy(account: str, region: str) -> dict[str, Any]:
    """The key policy: the account administers the key; logs, alarms and budgets may use it."""
    services = {
        "Logs": f"logs.{region}.amazonaws.com",
        "Alarms": "cloudwatch.amazonaws.com",
        "Budgets": "budgets.amazonaws.com",
    }
    statements_: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    for sid, principal in services.items():
        # Logs identifies the log group in the encryption context; the others the account.
        condition = (
            {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:*"
                }
            }
            if sid == "Logs"
            else {"StringEquals": {"aws:SourceAccount": account}}
        )
        statements_.append(
            {
                "Sid": f"{sid}UseKey",
                "Effect": "Allow",
                "Principal": {"Service": principal},
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": condition,
            }
        )
    return policy_document(statements_)


def _tls_only(bucket_arn: str) -> dict[str, Any]:
    return policy_document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def _lambda_pull(plan: DeploymentPlan, account: str) -> dict[str, Any]:
    return policy_document(
        [
            {
                "Sid": "LambdaPull",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {
                    "StringLike": {
                        "aws:sourceArn": (
                            f"arn:aws:lambda:{plan.region}:{account}:function:{plan.name}-*"
                        )
                    }
                },
            }
        ]
    )


create: Creator = by_package(AWS, DOCKER_BUILD)
"""How a blueprint group's resources are created (the shared builder's creator)."""


class KeyValueStore:
    """A DynamoDB table with TTL: async results, idempotency records or the cache.

    Built from :func:`svai.backends.aws.lowering.store_group` by the shared builder, as the
    ``svai:aws:KeyValueStore`` component.
    """

    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(self, plan: DeploymentPlan, store: Store, *, key_arn: pulumi.Input[str]) -> None:
        """Create the table of ``store``."""
        built = components.Built()
        group = args.store_group(plan, store, key_arn=key_arn)
        components.GroupComponent("svai:aws:KeyValueStore", group, built, create)
        table: Any = built.resources["table"]
        self.table_name = table.name
        self.table_arn = table.arn


class JobQueue:
    """The SQS job queue with its redrive to an encrypted dead-letter queue.

    Built from :func:`svai.backends.aws.lowering.queue_group` by the shared builder, as the
    ``svai:aws:JobQueue`` component.
    """

    queue_arn: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    queue_name: str
    dlq_arn: pulumi.Output[str]
    dlq_name: str

    def __init__(self, plan: DeploymentPlan, *, key_arn: pulumi.Input[str]) -> None:
        """Create the queue pair of an async ``plan``."""
        built = components.Built()
        group = args.queue_group(plan, key_arn=key_arn)
        components.GroupComponent("svai:aws:JobQueue", group, built, create)
        queue: Any = built.resources["jobs"]
        dlq: Any = built.resources["dlq"]
        self.queue_arn, self.queue_url = queue.arn, queue.url
        self.dlq_arn = dlq.arn
        self.queue_name = str(group.resources[1].args["name"])
        self.dlq_name = str(group.resources[0].args["name"])


@dataclass(frozen=True)
class Shared:
    """What the services read from the other components, by logical resource name."""

    plan: DeploymentPlan
    account: pulumi.Input[str]
    key_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str] | None
    image_uri: pulumi.Output[str] | None
    code_keys: Mapping[str, str]
    tables: Mapping[str, KeyValueStore]
    queue: JobQueue | None
    model_keys: tuple[str, ...] = ()
    network: PrivateNetwork | None = None
    """The VPC the functions run in (``security.network.egress`` restricted), or ``None``."""

    def arns(self, identity: Identity, logs: pulumi.Output[str]) -> dict[str, pulumi.Input[Any]]:
        """Logical resource -> ARN(s) for every resource ``identity`` names."""
        plan = self.plan
        result: dict[str, pulumi.Input[Any]] = {}
        for permission in identity.permissions:
            name = permission.resource
            if name in result or permission.action == "metrics.write":
                continue
            if name == "artifact":
                result[name] = pulumi.Output.concat(self.bucket_arn, "/", plan.artifact.object_key)
            elif name == "key":
                result[name] = self.key_arn
            elif name in ("queue", "dlq") and self.queue is not None:
                result[name] = self.queue.queue_arn if name == "queue" else self.queue.dlq_arn
            elif name.startswith("store:"):
                result[name] = self.tables[name.split(":", 1)[1]].table_arn
            elif name.startswith("secret:"):
                ref = next(s.ref for s in plan.secrets if s.env == name.split(":", 1)[1])
                result[name] = secret_arn(ref, plan.region, self.account)
            elif name.startswith("logs:"):
                result[name] = logs.apply(lambda arn: [arn, f"{arn}:*"])
        return result

    def environment(self, identity: Identity) -> dict[str, pulumi.Input[str]]:
        """Environment variables naming (never containing) what ``identity`` may use."""
        plan = self.plan
        env: dict[str, pulumi.Input[str]] = {
            "SVAI_METRICS_NAMESPACE": metric_namespace(plan.name),
            "SVAI_MAX_PAYLOAD_BYTES": str(plan.entry.max_payload_bytes),
        }
        for permission in identity.permissions:
            name = permission.resource
            if name == "artifact":
                env["SVAI_ARTIFACT_BUCKET"] = self.bucket_name
                env["SVAI_ARTIFACT_KEY"] = plan.artifact.object_key
            elif name == "queue" and self.queue is not None:
                env["SVAI_QUEUE_URL"] = self.queue.queue_url
            elif name.startswith("store:"):
                store = name.split(":", 1)[1]
                env[f"SVAI_{store.upper()}_TABLE"] = self.tables[store].table_name
            elif name.startswith("secret:"):
                key = name.split(":", 1)[1]
                env[f"{SECRET_ENV_PREFIX}{key}"] = next(s.ref for s in plan.secrets if s.env == key)
        return env


def _role_policy(
    parent: pulumi.Resource,
    name: str,
    role: AwsResource,
    identity: Identity,
    arns: Mapping[str, pulumi.Input[Any]],
    *,
    namespace: str,
    extra: Sequence[dict[str, Any]] = (),
    invoke_actions: Mapping[str, tuple[str, ...]] | None = None,
) -> AwsResource:
    def render(resolved: dict[str, Any]) -> str:
        items = statements(identity, resolved, namespace=namespace, invoke_actions=invoke_actions)
        return json.dumps(policy_document([*items, *extra]), sort_keys=True)

    policy: AwsResource = res.iam.RolePolicy(
        name,
        role=role.id,
        policy=pulumi.Output.all(**arns).apply(render),
        opts=_child(parent),
    )
    return policy


def _role_and_logs(
    parent: pulumi.Resource, shared: Shared, service: Service, *, trust: str, runs: str, logs: str
) -> tuple[AwsResource, AwsResource]:
    """The execution role ``service`` ``runs`` as (a function, an endpoint) and its log group."""
    plan = shared.plan
    tags = args.tags(plan, **{"svai-service": service.name})
    role = res.iam.Role(
        f"{plan.name}-{service.name}-role",
        assume_role_policy=trust,
        description=f"svai {plan.name}: {service.name} {runs}",
        tags=tags,
        opts=_child(parent),
    )
    group = res.cloudwatch.LogGroup(
        f"{plan.name}-{service.name}-logs",
        name=logs,
        retention_in_days=plan.log_retention_days,
        kms_key_id=shared.key_arn,
        tags=tags,
        opts=_child(parent),
    )
    return role, group


class FunctionService(pulumi.ComponentResource):
    """A Lambda service: role, policy, log group, function, ``live`` alias and its warm pool."""

    function_name: str
    function: pulumi.Output[str]
    version: pulumi.Output[str]
    """The version number this deployment published (the stack exports it for rollbacks)."""
    alias_arn: pulumi.Output[str]
    alias_invoke_arn: pulumi.Output[str]

    def __init__(
        self,
        shared: Shared,
        service: Service,
        identity: Identity,
        *,
        extra_arns: Mapping[str, pulumi.Input[Any]] | None = None,
        extra_env: Mapping[str, pulumi.Input[str]] | None = None,
        previous_version: str | None = None,
        gate_routes: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Create the function of ``service`` with exactly ``identity``'s permissions.

        Args:
            shared: Outputs of the other components.
            service: The service (a zip or image Lambda).
            identity: Its permissions.
            extra_arns: ARNs of resources the shared components do not know (an endpoint).
            extra_env: Extra environment variables (an endpoint's name).
            previous_version: Lambda version number of the previous model version, for
                weighted routing while a release is in progress.
            gate_routes: svai's gate job routes the ``live`` alias once it exists (its split
                is then ``ignore_changes``).
            opts: Pulumi options of the component.
        """
        plan = shared.plan
        super().__init__("svai:aws:FunctionService", f"{plan.name}-{service.name}", None, opts)
        fn_name = args.function_name(plan, service.name)
        role, logs = _role_and_logs(
            self,
            shared,
            service,
            trust=_LAMBDA_TRUST,
            runs="function",
            logs=f"/aws/lambda/{fn_name}",
        )
        arns = {**shared.arns(identity, logs.arn), **(extra_arns or {})}
        policy = _role_policy(
            self,
            f"{plan.name}-{service.name}-policy",
            role,
            identity,
            arns,
            namespace=metric_namespace(plan.name),
            extra=[_xray_statement()],
        )
        environment = {**shared.environment(identity), **(extra_env or {})}
        ready: list[pulumi.Resource] = [policy, logs]
        if shared.plan.queue is not None:
            grant = grant_payloads(
                f"{plan.name}-{service.name}-job-payloads",
                service.role,
                role,
                shared.bucket_arn,
                shared.key_arn,
                _child(self),
            )
            if grant is not None:
                ready.append(grant)
                environment[PAYLOAD_BUCKET_ENV] = shared.bucket_name
            if service.role == "submit":  # above SQS's limit (the catalog's), a claim check
                environment[MESSAGE_BYTES_ENV] = str(message_limit("aws"))
        if shared.network is not None:
            name = f"{plan.name}-{service.name}-vpc-access"
            ready.append(shared.network.grant(name, role, shared.account, plan.region, self))
        fn_args = args.function_args(
            plan,
            service,
            role_arn=role.arn,
            key_arn=shared.key_arn,
            log_group=logs.name,
            code_bucket=shared.bucket_name,
            code_key=shared.code_keys.get(service.name),
            image_uri=shared.image_uri,
            environment=environment,
        )
        if shared.network is not None:
            fn_args["vpc_config"] = shared.network.vpc_config()
        function = res.lambda_.Function(
            f"{plan.name}-{service.name}-fn",
            **fn_args,
            opts=_child(self, depends_on=ready),
        )
        weights = args.traffic_weights(plan, previous_version)
        pinned = args.alias_version(plan, previous_version)
        alias = res.lambda_.Alias(
            f"{plan.name}-{service.name}-live",
            name=args.LIVE_ALIAS,
            function_name=function.name,
            function_version=pinned if pinned is not None else function.version,
            routing_config={"additional_version_weights": weights} if weights else None,
            # Once created, the gate job routes the alias; `svai apply` routes it through the
            # same call (svai.controller.traffic), never by undoing the job's split here.
            opts=_child(
                self,
                ignore_changes=(list(deployments.CONTROLLED) if gate_routes else None),
            ),
        )
        compute = service.compute
        if compute.min_instances > 0:
            res.lambda_.ProvisionedConcurrencyConfig(
                f"{plan.name}-{service.name}-warm",
                function_name=function.name,
                qualifier=alias.name,
                provisioned_concurrent_executions=min(compute.min_instances, compute.max_instances),
                opts=_child(self),
            )
        self.function_name = fn_name
        self.function = function.name
        self.version = function.version
        self.alias_arn = alias.arn
        self.alias_invoke_arn = alias.invoke_arn
        self.register_outputs(
            {"function": function.name, "version": function.version, "alias": alias.arn}
        )


def _xray_statement() -> dict[str, Any]:
    # Active tracing needs these; X-Ray offers no resource-level permissions for them.
    return {
        "Sid": "XRayTraces",
        "Effect": "Allow",
        "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        "Resource": "*",
    }


class Endpoint(pulumi.ComponentResource):
    """A SageMaker endpoint: execution role, model, endpoint configuration, endpoint, scaling."""

    endpoint_name: str
    endpoint_arn: pulumi.Output[str]

    def __init__(
        self,
        shared: Shared,
        service: Service,
        identity: Identity,
        *,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Create the endpoint of ``service`` (serverless or real-time, per its offering)."""
        plan = shared.plan
        super().__init__("svai:aws:Endpoint", f"{plan.name}-{service.name}", None, opts)
        name = f"{plan.name}-{service.name}"[:63]
        tags = args.tags(plan, **{"svai-service": service.name})
        role, logs = _role_and_logs(
            self,
            shared,
            service,
            trust=_SAGEMAKER_TRUST,
            runs="endpoint",
            logs=f"/aws/sagemaker/Endpoints/{name}",
        )
        repo_arn = pulumi.Output.concat(
            "arn:aws:ecr:", plan.region, ":", shared.account, ":repository/svai/", plan.name
        )
        policy = _role_policy(
            self,
            f"{plan.name}-{service.name}-policy",
            role,
            identity,
            {**shared.arns(identity, logs.arn), "ecr": repo_arn},
            namespace=metric_namespace(plan.name),
            extra=[],
        )
        pull = res.iam.RolePolicy(
            f"{plan.name}-{service.name}-image-pull",
            role=role.id,
            policy=repo_arn.apply(lambda arn: json.dumps(_ecr_pull(arn), sort_keys=True)),
            opts=_child(self),
        )
        environment = shared.environment(identity)
        ready = [policy, pull]
        if shared.model_keys:  # the runtime fetches the weights at start: read on them only
            ready.append(
                grant_model_read(
                    f"{plan.name}-{service.name}-model-read",
                    role,
                    shared.bucket_arn,
                    shared.model_keys,
                    _child(self),
                )
            )
            environment[BUCKET_ENV] = shared.bucket_name
        placement: dict[str, Any] = {}
        if shared.network is not None and service.compute.offering != args.SERVERLESS:
            # Restricted egress: the model's container runs in the private subnets, HTTPS to the
            # VPC endpoints only (Serverless Inference takes no VPC configuration: SVAI_AWS_035).
            ready.append(
                shared.network.grant(
                    f"{plan.name}-{service.name}-vpc-access",
                    role,
                    shared.account,
                    plan.region,
                    self,
                    runs="endpoint",
                )
            )
            placement["vpc_config"] = shared.network.model_vpc_config()
            # Network isolation cuts the container off entirely (no network, no credentials).
            # SageMaker still pulls the image and downloads model_data_url itself, outside the
            # container, so an isolated model serves; but svai's start-time fetch (the weights
            # the build left out, read from the bucket through the S3 gateway endpoint) and the
            # cold-start secret reads (Secrets Manager's interface endpoint) run inside it.
            # Isolate exactly when the container needs neither.
            placement["enable_network_isolation"] = not (
                shared.model_keys or any(key.startswith(SECRET_ENV_PREFIX) for key in environment)
            )
        assert shared.repository_url is not None and shared.image_uri is not None

        def container(image: pulumi.Input[str], key: str, **env: str) -> dict[str, Any]:
            return {
                "image": image,
                "model_data_url": pulumi.Output.concat("s3://", shared.bucket_name, "/", key),
                "environment": {**dict(service.env), **environment, **env},
            }

        model = res.sagemaker.Model(
            f"{plan.name}-{service.name}-model",
            name=name,
            execution_role_arn=role.arn,
            primary_container=container(shared.image_uri, plan.artifact.object_key),
            **placement,
            tags=tags,
            opts=_child(self, depends_on=ready),
        )
        # Every other version of the rollout split keeps its own model (its artifact and image
        # are immutable under its version id), so its variant can take a share of the traffic.
        others: dict[str, pulumi.Output[str]] = {}
        for version, _ in args.variant_versions(plan, service):
            if version == plan.model_version:
                continue
            key = plan.artifact.object_key.replace(plan.model_version, version)
            other = res.sagemaker.Model(
                f"{plan.name}-{service.name}-model-{version}",
                name=f"{name}-{version}"[:63],
                execution_role_arn=role.arn,
                primary_container=container(
                    pulumi.Output.concat(shared.repository_url, ":", version),
                    key,
                    SVAI_MODEL_VERSION=version,
                    **({"SVAI_ARTIFACT_KEY": key} if "SVAI_ARTIFACT_KEY" in environment else {}),
                ),
                **placement,
                tags={**tags, "svai-model-version": version},
                opts=_child(self, depends_on=ready),
            )
            others[version] = other.name
        config = res.sagemaker.EndpointConfiguration(
            f"{plan.name}-{service.name}-config",
            **args.endpoint_config_args(
                plan, service, model_name=model.name, key_arn=shared.key_arn, other_models=others
            ),
            opts=_child(self),
        )
        endpoint = res.sagemaker.Endpoint(
            f"{plan.name}-{service.name}-endpoint",
            name=name,
            endpoint_config_name=config.name,
            deployment_config=deployments.endpoint_deployment_config(plan, service, name, self),
            tags=tags,
            opts=_child(self, depends_on=[logs]),
        )
        scaling = args.scaling_args(service)
        if scaling is not None:
            target_args, policy_args = scaling
            resource_id = endpoint.name.apply(lambda n: f"endpoint/{n}/variant/{args.LIVE_ALIAS}")
            target = res.appautoscaling.Target(
                f"{plan.name}-{service.name}-scaling",
                service_namespace="sagemaker",
                resource_id=resource_id,
                tags=args.tags(plan),
                **target_args,
                opts=_child(self),
            )
            res.appautoscaling.Policy(
                f"{plan.name}-{service.name}-scaling-policy",
                name=f"{name}-target-tracking",
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                **policy_args,
                opts=_child(self),
            )
        self.endpoint_name = name
        self.endpoint_arn = endpoint.arn
        self.register_outputs({"endpoint": endpoint.name, "arn": endpoint.arn})


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


class HttpApi:
    """An API Gateway HTTP API: routes to the ``live`` aliases, auth, throttling, access logs.

    Built from :func:`svai.backends.aws.lowering.http_api_group` by the shared builder, as the
    ``svai:aws:HttpApi`` component.
    """

    endpoint: pulumi.Output[str]
    api_id: pulumi.Output[str]

    def __init__(
        self,
        plan: DeploymentPlan,
        targets: Mapping[str, FunctionService],
        *,
        key_arn: pulumi.Input[str],
    ) -> None:
        """Create the API of ``plan`` routing each role's routes to ``targets[role]``."""
        functions = {role: (t.alias_invoke_arn, t.function) for role, t in targets.items()}
        group = args.http_api_group(plan, functions, key_arn=key_arn)
        built = components.Built()
        components.GroupComponent("svai:aws:HttpApi", group, built, create)
        api: Any = built.resources["api"]
        self.endpoint = api.api_endpoint
        self.api_id = api.id


def monitoring(
    plan: DeploymentPlan,
    dimensions: Mapping[str, tuple[Mapping[str, Any], bool]],
    *,
    key_arn: pulumi.Input[str],
    account: pulumi.Input[str],
) -> pulumi.ComponentResource:
    """Alarms from the plan (to an encrypted SNS topic), a dashboard and the monthly budget.

    Built from :func:`svai.backends.aws.lowering.monitoring_group` by the shared builder, as
    the ``svai:aws:Monitoring`` component.
    """
    group = args.monitoring_group(plan, dimensions, key_arn=key_arn, account=account)
    return components.GroupComponent("svai:aws:Monitoring", group, components.Built(), create)
