"""Automatic rollback on Azure: a Container Apps job on a schedule runs svai's gate.

Container Apps has no native canary analysis, so a canary or blue/green plan whose services run
in the Container Apps environment gets svai's gate (:mod:`svai.controller`): a job with a
schedule trigger, once per ``rollout.interval``, running ``svai gate --once`` in the gate image
with ``SVAI_RELEASE_STATE_URL`` pointing at a ``svai`` container of the artifact storage
account. Its own user-assigned identity may read and write blobs in that container only, query
the deployment's Log Analytics workspace (the live signals) and pull from its registry.
"""

from __future__ import annotations

from svai.backends import gate
from svai.backends.azure import naming, roles
from svai.backends.azure.blueprint import Ref
from svai.backends.azure.context import Context
from svai.backends.azure.services import registry_server

__all__ = ["lower_gate", "state_url"]

_CONTAINER = "svai"


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
