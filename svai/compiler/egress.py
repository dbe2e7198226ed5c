"""What restricted egress is made of, per cloud: the endpoints a plan's code reaches privately.

With ``security.network.egress: none | private-only`` the AWS backend puts the functions in a
VPC with no route out but VPC endpoints (:mod:`svai.backends.aws.network`), one per service the
deployment's code calls; the bill prices the interface endpoints among them. The Azure backend
(:mod:`svai.backends.azure.network`) puts Container Apps and function apps in a VNet whose
subnets refuse the internet and gives each data service the plan uses a private endpoint, on a
private plan (``network.private``) as under restricted egress. Backend and bill read the lists
here, so what is built and what is priced cannot drift apart.

The spec's two restricted values build the same resources on every cloud: the services'
traffic may reach the deployment's own private endpoints (and the few platform services a cloud
cannot put behind one) and nothing else, so ``private-only`` and ``none`` differ in no resource.
"""

from __future__ import annotations

from svai.compiler.gate import automatic, native_shift
from svai.ir import DeploymentPlan

__all__ = [
    "AWS_GATEWAY_ENDPOINTS",
    "AZURE_ZONES",
    "aws_endpoints",
    "azure_closed_vnet",
    "azure_private_links",
    "azure_private_registry",
    "azure_vnet",
    "azure_zones",
    "restricts_egress",
]

AWS_GATEWAY_ENDPOINTS = frozenset({"s3", "dynamodb"})
"""Services reached through a (free) gateway endpoint; the others need an interface endpoint."""


def restricts_egress(plan: DeploymentPlan) -> bool:
    """Whether ``plan`` asks for outbound traffic to be restricted."""
    return plan.egress != "all"


def aws_endpoints(plan: DeploymentPlan) -> tuple[str, ...]:
    """The AWS services the plan's functions call, by endpoint name, sorted.

    S3 (the start-time model fetch, claim-checked job bodies), CloudWatch Logs and X-Ray always;
    DynamoDB with stores, SQS with a queue, Secrets Manager with secrets, SageMaker Runtime when
    a proxy function calls an endpoint, CloudWatch (``monitoring``) and Lambda when a scheduled
    release gate reads the candidate's metrics and moves the ``live`` aliases. Empty when egress is not restricted.

    A SageMaker model's container in the VPC needs nothing more: from inside it calls S3 (the
    start-time fetch, through the gateway endpoint) and Secrets Manager (its cold-start secret
    reads); SageMaker pulls the image, downloads ``model_data_url`` and ships the container's
    stdout to CloudWatch Logs itself, and the runtime's metrics are lines in that log (EMF).
    """
    if not restricts_egress(plan):
        return ()
    services = {"s3", "logs", "xray"}
    if plan.stores:
        services.add("dynamodb")
    if plan.queue is not None:
        services.add("sqs")
    if plan.secrets:
        services.add("secretsmanager")
    if any(s.compute.kind == "endpoint" for s in plan.services):
        services.add("sagemaker.runtime")
    if automatic(plan.rollout) and native_shift(plan.rollout) is None:
        # The scheduled release gate reads CloudWatch metrics and moves the Lambda aliases.
        services.update(("monitoring", "lambda"))
    return tuple(sorted(services))


AZURE_ZONES: dict[str, tuple[str, ...]] = {
    "blob": ("privatelink.blob.core.windows.net",),
    "vault": ("privatelink.vaultcore.azure.net",),
    "Sql": ("privatelink.documents.azure.com",),
    "namespace": ("privatelink.servicebus.windows.net",),
    "amlworkspace": ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"),
    "sites": ("privatelink.azurewebsites.net",),
    "registry": ("privatelink.azurecr.io",),
    # Azure Monitor Private Link Scope: ingestion and query endpoints, the agents' storage.
    "azuremonitor": (
        "privatelink.monitor.azure.com",
        "privatelink.oms.opinsights.azure.com",
        "privatelink.ods.opinsights.azure.com",
        "privatelink.agentsvc.azure-automation.net",
        "privatelink.blob.core.windows.net",
    ),
}
"""Private-link group id -> the private DNS zones its endpoint registers in."""


def _runs_in_vnet(plan: DeploymentPlan) -> bool:
    # Container Apps and function apps join the VNet; Azure ML deployments leave through their
    # workspace's managed network instead.
    return any(s.compute.kind != "endpoint" for s in plan.services)


def azure_vnet(plan: DeploymentPlan) -> bool:
    """Whether the Azure deployment gets its VNet.

    A private plan does, and so does restricted egress for services that run in it.
    """
    return plan.private_network or (restricts_egress(plan) and _runs_in_vnet(plan))


def azure_closed_vnet(plan: DeploymentPlan) -> bool:
    """Whether the Azure VNet's services may not reach the internet.

    True under restricted egress for services that run in the VNet: its subnets get the NSG,
    its telemetry the Azure Monitor scope.
    """
    return restricts_egress(plan) and _runs_in_vnet(plan)


def azure_private_registry(plan: DeploymentPlan) -> bool:
    """Whether the Azure registry is Premium, the tier with private endpoints.

    A private plan's is, and so is one under restricted egress: image pulls stay private, and an
    Azure ML workspace's managed network reaches its registry only through a private endpoint.
    """
    return plan.private_network or restricts_egress(plan)


def azure_private_links(plan: DeploymentPlan) -> tuple[str, ...]:
    """The private-link group id of each private endpoint in the Azure VNet, sorted.

    The artifact storage (the start-time model fetch, claim checks, the release state) always;
    Key Vault on a private plan or when secrets are read; Cosmos DB with stores; Service Bus
    with a queue; each function app's host storage, and on a private plan the app itself and the
    Azure ML workspace (inbound calls); the registry when images ship; under restricted egress
    Azure Monitor (the services' telemetry). Empty without a VNet.
    """
    if not azure_vnet(plan):
        return ()
    links = ["blob"]
    if plan.private_network or plan.secrets:
        links.append("vault")
    if plan.stores:
        links.append("Sql")
    if plan.queue is not None:
        links.append("namespace")
    for service in plan.services:
        if service.compute.kind == "faas":
            links.append("blob")
            if plan.private_network:
                links.append("sites")
    if plan.private_network and any(s.compute.kind == "endpoint" for s in plan.services):
        links.append("amlworkspace")
    if any(s.compute.package in ("image", "model") for s in plan.services):
        links.append("registry")
    if azure_closed_vnet(plan):
        links.append("azuremonitor")
    return tuple(sorted(links))


def azure_zones(plan: DeploymentPlan) -> tuple[str, ...]:
    """The private DNS zones the Azure endpoints register in (each once), sorted."""
    return tuple(sorted({z for link in azure_private_links(plan) for z in AZURE_ZONES[link]}))
