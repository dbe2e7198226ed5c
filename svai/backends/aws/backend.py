"""The AWS backend: builds a plan's resources from the components, and names its rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from svai.backends import gate
from svai.backends.aws import deployments
from svai.backends.aws import lowering as args
from svai.backends.aws.components import (
    Endpoint,
    Foundation,
    FunctionService,
    HttpApi,
    JobQueue,
    KeyValueStore,
    Shared,
    monitoring,
)
from svai.backends.aws.network import PrivateNetwork
from svai.backends.aws.provider import caller_account, res
from svai.backends.aws.rules import RULES
from svai.backends.aws.streaming import StreamingUrl
from svai.backends.base import Rule
from svai.compiler.egress import restricts_egress
from svai.compiler.lower import endpoint_proxy
from svai.errors import UsageError
from svai.ir import DeploymentPlan, Identity, Permission, Service

__all__ = ["AwsBackend", "proxy_identity"]

_PROXY_ACTIONS = frozenset({"queue.consume", "queue.send", "store.read", "store.write"})
"""What the proxy function in front of an endpoint does itself (the endpoint does the rest)."""
_ENDPOINT_ACTIONS = frozenset(
    {"artifact.read", "secret.read", "key.use", "logs.write", "metrics.write"}
)


class AwsBackend:
    """Compile a :class:`DeploymentPlan` to pulumi-aws resources.

    Pattern A (sync): API Gateway HTTP API -> Lambda (zip or image) with a ``live`` alias, or a
    proxy Lambda -> SageMaker endpoint. Pattern B (async): submit Lambda -> SQS (with DLQ) ->
    worker Lambda -> DynamoDB results, read by the status Lambda. Shared by both: KMS key,
    artifact bucket, alarms, dashboard, budget.
    """

    cloud = "aws"

    def __init__(
        self,
        *,
        build_dir: str = ".svai/build/aws",
        previous_lambda_versions: Mapping[str, str] | None = None,
    ) -> None:
        """Configure the backend.

        Args:
            build_dir: The target's ``svai build`` folder, holding ``model.tar.gz`` and
                ``function.zip``; uploaded on ``apply``, only named in a preview.
            previous_lambda_versions: Service name -> Lambda version number serving the
                previous model version (from the last apply's outputs), for weighted routing
                during a rollout.
        """
        self.build_dir = build_dir
        self.previous_lambda_versions = dict(previous_lambda_versions or {})

    def rules(self) -> Sequence[Rule]:
        """Return the AWS rules (``SVAI_AWS_###``)."""
        return RULES

    def program(self, plan: DeploymentPlan) -> None:
        """Create every resource of ``plan``; call inside a Pulumi program (real or mocked)."""
        args.route_auth(plan)  # refuse an unsupported auth before creating anything
        account: pulumi.Input[str] = plan.account if plan.account is not None else caller_account()
        foundation = Foundation(plan, account=account, build_dir=self.build_dir)
        tables: dict[str, KeyValueStore] = {
            store.name: KeyValueStore(plan, store, key_arn=foundation.key_arn)
            for store in plan.stores
        }
        queue = JobQueue(plan, key_arn=foundation.key_arn) if plan.mode == "async" else None
        shared = Shared(
            plan=plan,
            account=account,
            key_arn=foundation.key_arn,
            bucket_name=foundation.bucket_name,
            bucket_arn=foundation.bucket_arn,
            repository_url=foundation.repository_url,
            image_uri=foundation.image_uri,
            code_keys=foundation.code_keys,
            tables=tables,
            queue=queue,
            model_keys=foundation.model_keys,
            network=(
                PrivateNetwork(plan, bucket_arn=foundation.bucket_arn)
                if restricts_egress(plan)
                else None
            ),
        )
        identities = {identity.service: identity for identity in plan.identities}
        fronts: dict[str, FunctionService] = {}
        lambdas: list[tuple[Service, str, pulumi.Resource]] = []  # automatic rollback's
        endpoints: list[tuple[Service, str]] = []  # the gate job may move their variant weights
        dimensions: dict[str, tuple[Mapping[str, str], bool]] = {}
        for service in plan.services:
            identity = identities.get(service.name, Identity(service.name, ()))
            if service.compute.kind == "endpoint":
                endpoint = Endpoint(shared, service, _endpoint_identity(identity))
                proxy = endpoint_proxy(plan.cloud, service)
                assert proxy is not None  # every AWS endpoint sits behind its proxy function
                proxy_env: dict[str, pulumi.Input[str]] = {
                    "SVAI_ENDPOINT_NAME": endpoint.endpoint_name
                }
                if args.has_stream_url(plan, service):  # streamed generation: beside the proxy
                    streaming = StreamingUrl(
                        shared,
                        proxy,
                        service,
                        endpoint_arn=endpoint.endpoint_arn,
                        endpoint_name=endpoint.endpoint_name,
                    )
                    proxy_env["SVAI_STREAM_URL"] = streaming.url  # named in its stream: true 400
                    pulumi.export("aws_stream_url", streaming.url)
                function = FunctionService(
                    shared,
                    proxy,
                    proxy_identity(plan, service, identity),
                    extra_arns={f"service:{service.name}": endpoint.endpoint_arn},
                    extra_env=proxy_env,
                    previous_version=self.previous_lambda_versions.get(proxy.name),
                )
                dimensions[service.name] = (
                    {"EndpointName": endpoint.endpoint_name, "VariantName": args.LIVE_ALIAS},
                    True,
                )
                dimensions[proxy.name] = (_lambda_dims(function.function_name), False)
                endpoints.append((service, endpoint.endpoint_name))
            elif service.compute.kind == "faas":
                function = FunctionService(
                    shared,
                    service,
                    identity,
                    previous_version=self.previous_lambda_versions.get(service.name),
                    # The gate job or CodeDeploy routes these aliases (svai.backends.gate.alias_owner).
                    gate_routes=gate.controller_owns_alias(plan),
                )
                dimensions[service.name] = (_lambda_dims(function.function_name), False)
                lambdas.append((service, function.function_name, function))
                # `svai promote` / `rollback` route the alias back to this number later.
                pulumi.export(f"aws_lambda_version_{service.name}", function.version)
            else:
                raise UsageError(
                    f"{service.compute.offering}: the AWS backend builds Lambda and SageMaker "
                    "services; container services (ECS/App Runner) are not built yet — pin "
                    "an aws.lambda.* or aws.sagemaker.* offering for this target"
                )
            if service.role == "worker":
                assert queue is not None
                res.lambda_.EventSourceMapping(
                    f"{plan.name}-{service.name}-trigger",
                    **args.event_source_args(
                        plan, service, queue_arn=queue.queue_arn, function=function.alias_arn
                    ),
                    opts=pulumi.ResourceOptions(parent=function),
                )
            else:
                fronts[service.role] = function
        api = HttpApi(plan, fronts, key_arn=foundation.key_arn)
        if queue is not None:
            dimensions["queue"] = ({"QueueName": queue.queue_name}, False)
            dimensions["dlq"] = ({"QueueName": queue.dlq_name}, False)
        monitoring(plan, dimensions, key_arn=foundation.key_arn, account=account)
        deployments.release_controls(
            plan,
            lambdas,
            endpoints=endpoints,
            bucket=foundation.bucket_name,
            account=account,
            key_arn=foundation.key_arn,
            network=shared.network,
        )
        pulumi.export("aws_url", api.endpoint)
        if queue is not None:
            pulumi.export("aws_queue_url", queue.queue_url)


def _lambda_dims(function_name: str) -> dict[str, str]:
    return {"FunctionName": function_name, "Resource": f"{function_name}:{args.LIVE_ALIAS}"}


def _endpoint_identity(identity: Identity) -> Identity:
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
