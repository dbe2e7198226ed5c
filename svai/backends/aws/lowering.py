"""Lowering for AWS: :func:`lower` turns a plan into groups, one per deployment shape (pure data).

The groups are the shapes of :mod:`svai.backends.aws.blueprint`, each one ``svai:aws:<shape>`` component
(docs/adr/0004-one-backend-design.md): the foundation (:mod:`svai.backends.aws.foundation`), the
key-value stores, the job queue, the HTTP API and the monitoring
(:mod:`svai.backends.aws.arguments`), the private network (:mod:`svai.backends.aws.network`), each
service's endpoint, streaming URL and function (:mod:`svai.backends.aws.services`,
:mod:`svai.backends.aws.streaming`), and the release's controls
(:mod:`svai.backends.aws.deployments`: the scheduled gate's own group, or each function's
CodeDeploy resources added to its component). A value another resource produces is a marker: the shared
:class:`Ref`, :class:`Concat`, :class:`Rendered`, :class:`FileSource`, or AWS's own
(:mod:`svai.backends.aws.blueprint`), so a test reads every argument and link without Pulumi.
Lowering imports no Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from svai.backends import gate
from svai.backends.aws import arguments as args
from svai.backends.aws import deployments, foundation, network, services, streaming
from svai.backends.aws.foundation import Links
from svai.backends.blueprint import Blueprint, Group, Ref
from svai.compiler.lower import endpoint_proxy
from svai.errors import UsageError
from svai.ir import DeploymentPlan, Identity, Service

__all__ = ["lambda_dimensions", "lower"]


def lower(
    plan: DeploymentPlan,
    *,
    build_dir: str = ".svai/build/aws",
    previous_lambda_versions: Mapping[str, str] | None = None,
) -> Blueprint:
    """Return the AWS resources of ``plan`` as a blueprint, one group per component.

    Args:
        plan: The cloud-neutral plan.
        build_dir: The target's ``svai build`` folder (``model.tar.gz``, ``function.zip``, the
            start-fetch objects); uploaded on ``apply``, only named in a preview.
        previous_lambda_versions: Service name -> Lambda version number serving the previous
            model version (from the last apply's outputs), for weighted routing during a
            rollout.

    Raises:
        UsageError: An auth, offering or setting the backend cannot build; nothing is lowered.
    """
    args.route_auth(plan)  # refuse an unsupported auth before lowering anything
    previous = dict(previous_lambda_versions or {})
    link = foundation.links(plan, build_dir)
    groups = [foundation.foundation_group(plan, link, build_dir)]
    groups += [args.store_group(plan, store, key_arn=link.key_arn) for store in plan.stores]
    if plan.mode == "async":
        groups.append(args.queue_group(plan, key_arn=link.key_arn))
    if link.network:
        groups.append(network.network_group(plan, bucket_arn=link.bucket_arn))
    identities = {identity.service: identity for identity in plan.identities}
    fronts: dict[str, tuple[Any, Any]] = {}
    dimensions: dict[str, tuple[Mapping[str, Any], bool]] = {}
    for service in plan.services:
        identity = identities.get(service.name, Identity(service.name, ()))
        if service.compute.kind == "endpoint":
            function = _endpoint_groups(link, service, identity, previous, groups)
            name = args.endpoint_name(plan, service.name)
            dimensions[service.name] = (
                {"EndpointName": name, "VariantName": args.LIVE_ALIAS},
                True,
            )
        elif service.compute.kind == "faas":
            extra = services.Extra(
                previous_version=previous.get(service.name),
                # The gate job or CodeDeploy routes these aliases (svai.backends.gate.alias_owner).
                controller_routes=gate.controller_owns_alias(plan),
            )
            groups.append(services.function_group(link, service, identity, extra))
            function = service.name
        else:
            raise UsageError(
                f"{service.compute.offering}: the AWS backend builds Lambda and SageMaker "
                "services; container services (ECS/App Runner) are not built yet — pin "
                "an aws.lambda.* or aws.sagemaker.* offering for this target"
            )
        dimensions[function] = (lambda_dimensions(args.function_name(plan, function)), False)
        if service.role != "worker":
            alias = Ref(f"{function}:alias", "invoke_arn")
            fronts[service.role] = (alias, Ref(f"{function}:fn", "name"))
    groups.append(args.http_api_group(plan, fronts, key_arn=link.key_arn))
    if plan.mode == "async":
        dlq, jobs = args.queue_args(plan, key_arn=link.key_arn)
        dimensions["queue"] = ({"QueueName": jobs["name"]}, False)
        dimensions["dlq"] = ({"QueueName": dlq["name"]}, False)
    groups.append(
        args.monitoring_group(plan, dimensions, key_arn=link.key_arn, account=link.account)
    )
    groups += deployments.release_controls(link)
    return Blueprint(tuple(groups))


def lambda_dimensions(function: str) -> dict[str, str]:
    """The CloudWatch dimensions of a function's ``live`` alias."""
    return {"FunctionName": function, "Resource": f"{function}:{args.LIVE_ALIAS}"}


def _endpoint_groups(
    link: Links,
    service: Service,
    identity: Identity,
    previous: Mapping[str, str],
    groups: list[Group],
) -> str:
    """Append the groups of an endpoint ``service`` to ``groups``; return its proxy's name.

    The endpoint, then (for streamed generation) its streaming function URL, then the proxy
    function in front of it, which the HTTP API reaches.
    """
    plan = link.plan
    proxy = endpoint_proxy(plan.cloud, service)
    assert proxy is not None  # every AWS endpoint sits behind its proxy function
    groups.append(services.endpoint_group(link, service, services.endpoint_identity(identity)))
    arn = Ref(f"{service.name}:endpoint", "arn")
    env: dict[str, Any] = {"SVAI_ENDPOINT_NAME": args.endpoint_name(plan, service.name)}
    if args.has_stream_url(plan, service):  # streamed generation: beside the proxy
        groups.append(streaming.stream_group(link, proxy, service, endpoint_arn=arn))
        # The proxy names it in its 400 answer to `stream: true`.
        env["SVAI_STREAM_URL"] = Ref(f"{service.name}-stream:url", "function_url")
    extra = services.Extra(
        arns={f"service:{service.name}": arn}, env=env, previous_version=previous.get(proxy.name)
    )
    proxy_identity = services.proxy_identity(plan, service, identity)
    groups.append(services.function_group(link, proxy, proxy_identity, extra))
    return proxy.name
