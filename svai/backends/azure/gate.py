"""Automatic rollback on Azure: a Container Apps job on a schedule runs svai's gate.

Container Apps has no native canary analysis, so a canary or blue/green plan whose services run
in the Container Apps environment gets svai's gate (:mod:`svai.controller`): a job with a
schedule trigger, once per ``rollout.interval``, running ``svai gate --once`` in the gate image
with ``SVAI_RELEASE_STATE_URL`` pointing at a ``svai`` container of the artifact storage
account. Its own user-assigned identity may read and write blobs in that container only, query
the deployment's Log Analytics workspace (the live signals) and pull from its registry.
"""

from __future__ import annotations

from typing import Any

from svai.backends import gate
from svai.backends.azure import naming, revisions, roles
from svai.backends.azure.blueprint import Blueprint, ClientConfig, Concat, Ref
from svai.backends.azure.context import Context
from svai.backends.azure.services import registry_server
from svai.ir import DeploymentPlan

__all__ = ["ROUTING_ACTIONS", "export_routes", "lower_gate", "routed_apps", "state_url"]

_CONTAINER = "svai"

ROUTING_ACTIONS = (
    "Microsoft.App/containerApps/read",
    "Microsoft.App/containerApps/write",
    "Microsoft.App/containerApps/revisions/activate/action",
    "Microsoft.App/containerApps/revisions/deactivate/action",
)
"""What moving a container app's traffic takes: a PATCH of its ingress and reads; deactivating
the revision a release's end leaves at 0% (else its minimum replicas run on), and activating
one again when a rollback routes back to it (svai.controller.revisions)."""


def state_url(plan_name_account: str) -> str:
    """Where the release state lives, given the artifact storage account's name."""
    return f"https://{plan_name_account}.blob.core.windows.net/{_CONTAINER}/{gate.STATE_PREFIX}"


def lower_gate(ctx: Context) -> None:
    """Add the gate job of a canary or blue/green plan that has a Container Apps environment."""
    plan = ctx.plan
    known = ctx.keys()
    if not gate.automatic(plan) or "environment" not in known:
        return
    group = ctx.logical("release-gate")
    add = ctx.adder("ReleaseGate", group)
    add(
        "identity:gate",
        "azure-native:managedidentity:UserAssignedIdentity",
        "gate-identity",
        ctx.located(resource_name_=f"id-{plan.name}-gate"),
    )
    add(
        "container:svai",
        "azure-native:storage:BlobContainer",
        "release-state-container",
        {
            "resource_group_name": ctx.rg,
            "account_name": Ref("storage", "name"),
            "container_name": _CONTAINER,
            "public_access": "None",
        },
    )
    ctx.grant(group, "gate", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, Ref("container:svai"), "state")
    ctx.grant(group, "gate", roles.LOG_ANALYTICS_READER, Ref("logs"), "logs")
    ctx.grant(group, "gate", roles.ACR_PULL, Ref("registry"), "registry")
    _routing_role(ctx, group)
    minutes = gate.schedule_minutes(plan.rollout)
    cron = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{max(1, minutes // 60)} * * *"
    identity = Ref("identity:gate")
    add(
        "job:gate",
        "azure-native:app:Job",
        "gate",
        ctx.located(
            job_name=naming.compact_name(plan, "gate", 32),
            environment_id=Ref("environment"),
            identity={"type": "UserAssigned", "user_assigned_identities": [identity]},
            configuration={
                "trigger_type": "Schedule",
                "replica_timeout": 300,
                "replica_retry_limit": 0,  # the next scheduled run is the retry
                "schedule_trigger_config": {
                    "cron_expression": cron,
                    "parallelism": 1,
                    "replica_completion_count": 1,
                },
                "registries": [{"server": registry_server(ctx), "identity": identity}],
            },
            template={
                "containers": [
                    {
                        "name": "gate",
                        "image": gate.gate_image(registry_server(ctx)),
                        "command": list(gate.GATE_COMMAND),
                        "env": [
                            {
                                "name": "SVAI_RELEASE_STATE_URL",
                                "value": state_url(naming.compact_name(plan, "svai")),
                            },
                            {"name": "AZURE_CLIENT_ID", "value": Ref("identity:gate", "client_id")},
                            {
                                "name": "AZURE_LOG_ANALYTICS_WORKSPACE_ID",
                                "value": Ref("logs", "customer_id"),
                            },
                        ],
                        "resources": {"cpu": 0.25, "memory": "0.5Gi"},
                    }
                ]
            },
        ),
        depends_on=ctx.grants_of("gate"),
    )


def routed_apps(blueprint: Blueprint) -> list[tuple[str, str]]:
    """``(resource key, app name)`` of every container app whose traffic the gate job owns."""
    return [
        (spec.key, str(spec.args["container_app_name"]))
        for group in blueprint.groups
        for spec in group.resources
        if spec.token == "azure-native:app:ContainerApp"
        and spec.ignore_changes == revisions.GATE_OWNED
    ]


def _routing_role(ctx: Context, group: str) -> None:
    """A custom role of exactly :data:`ROUTING_ACTIONS`, assigned to the gate on each app.

    No built-in role is that narrow (Contributor is never assigned, ``roles.BROAD_ROLES``); the
    definition is assignable in the deployment's resource group, the assignment scoped to the
    one container app.
    """
    apps = routed_apps(ctx.blueprint())
    if not apps:
        return
    plan = ctx.plan
    group_id = Concat(
        ("/subscriptions/", ClientConfig("subscription_id"), f"/resourceGroups/rg-svai-{plan.name}")
    )
    ctx.add(
        "ReleaseGate",
        group,
        "role-definition:gate-route",
        "azure-native:authorization:RoleDefinition",
        ctx.logical("gate", "route-role"),
        {
            "role_definition_id": naming.guid(plan.name, plan.region, "gate-route-role"),
            "role_name": f"svai {plan.name} {plan.region} release gate: route container apps",
            "description": "svai: move the traffic of the deployment's container apps",
            "role_type": "CustomRole",
            "scope": group_id,
            "assignable_scopes": [group_id],
            "permissions": [{"actions": list(ROUTING_ACTIONS), "not_actions": []}],
        },
        depends_on=("rg",),
    )
    for key, app in apps:
        ctx.add(
            "ReleaseGate",
            group,
            f"role:gate:route:{app}",
            "azure-native:authorization:RoleAssignment",
            ctx.logical("gate", "can", "route", app),
            {
                "role_assignment_name": naming.guid(plan.name, plan.region, "gate", "route", app),
                "principal_id": Ref("identity:gate", "principal_id"),
                "principal_type": "ServicePrincipal",
                "role_definition_id": Ref("role-definition:gate-route"),
                "scope": Ref(key),
                "description": f"svai: gate -> route traffic on {app}",
            },
        )


def export_routes(plan: DeploymentPlan, blueprint: Blueprint, built: Any) -> None:
    """Export the container apps the gate job routes (:func:`gate.routes_output`).

    Each app's ARM id names its subscription, resource group and name; the revisions are
    those of every version the release routes. Runs inside the Pulumi program.
    """
    import pulumi

    apps = routed_apps(blueprint)
    if not apps:
        return
    versions = gate.release_versions(plan)

    def entries(ids: list[str]) -> list[dict[str, object]]:
        return [
            gate.route("azure", arm_id, {v: revisions.revision_name(app, v) for v in versions})
            for arm_id, (_, app) in zip(ids, apps, strict=True)
        ]

    ids = pulumi.Output.all(*(built.resources[key].id for key, _ in apps))
    pulumi.export(gate.routes_output(plan), ids.apply(entries))
