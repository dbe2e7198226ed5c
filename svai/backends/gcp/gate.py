"""Automatic rollback on GCP: Cloud Scheduler runs svai's gate as a Cloud Run job.

Cloud Run has no native canary analysis, so a canary or blue/green plan gets svai's gate
(:mod:`svai.controller`): a Cloud Run job in the gate image running ``svai gate --once`` with
``SVAI_RELEASE_STATE_URL`` pointing at the artifact bucket's ``svai/`` prefix, started by a Cloud
Scheduler job once per ``rollout.interval`` through the Run Admin API (``jobs.run``, with the
gate's own identity's OAuth token). The identity may read and write objects in the bucket, read
Cloud Monitoring, and run that one job. An all-at-once plan gets none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from svai.backends import gate
from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import Blueprint, Ref, Text, join
from svai.backends.gcp.context import LoweringContext
from svai.ir import DeploymentPlan

__all__ = [
    "GATE_OWNED",
    "GateLowering",
    "cron",
    "export_routes",
    "revision_name",
    "run_traffic",
    "state_url",
]

GATE_OWNED = ("traffics",)
"""The Cloud Run service inputs the gate job owns where it routes traffic: ``ignore_changes``."""


def revision_name(service: str, version: str) -> str:
    """The Cloud Run revision of model ``version`` of ``service`` (``<service>-<version>``)."""
    return naming.resource_id(service, naming.short_version(version), max_len=63)


def run_traffic(service: str, split: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The traffic targets of ``(version, percent)`` pairs, each revision by name."""
    return [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": revision_name(service, version),
            "percent": percent,
        }
        for version, percent in split
    ]


def state_url(project: str | None, app: str) -> str:
    """Where the release state lives: the artifact bucket's ``svai/`` prefix."""
    return f"gs://{naming.bucket_name(project, app)}/{gate.STATE_PREFIX}"


def cron(minutes: int) -> str:
    """A Cloud Scheduler (unix-cron) schedule that fires every ``minutes``."""
    if minutes < 60:
        return f"*/{minutes} * * * *"
    return f"0 */{max(1, minutes // 60)} * * *"


class GateLowering(LoweringContext):
    """Adds the scheduled gate job of a canary or blue/green plan."""

    def release_gate(self) -> None:
        """The gate's identity, its grants, the Cloud Run job and its schedule."""
        if not gate.automatic(self.plan):
            return
        sa = self.service_account("gate", f"judges the releases of {self.plan.name}")
        member = self.member(sa)
        bucket = naming.bucket_name(self.project, self.app)
        self.add(
            "iam-gate-state",
            T.BUCKET_IAM,
            {
                "bucket": bucket,
                "role": "roles/storage.objectUser",
                "member": member,
                "condition": {
                    "title": "release state only",
                    "expression": (
                        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/'
                        f'{gate.STATE_PREFIX}/")'
                    ),
                },
            },
            "artifacts",
            sa,
        )
        self.add(
            "iam-gate-metrics",
            T.PROJECT_IAM,
            {"project": self.project_of(sa), "role": "roles/monitoring.viewer", "member": member},
            sa,
        )
        project = self.project_of(sa)
        registry = f"{self.region}-docker.pkg.dev/{project}/{self.app}"
        name = naming.resource_id(self.app, "gate", max_len=63)
        self.add(
            "gate-job",
            T.RUN_JOB,
            {
                "name": name,
                "location": self.region,
                "launch_stage": "GA",
                "labels": self.labels,
                "deletion_protection": False,
                "template": {
                    "labels": self.labels,
                    "task_count": 1,
                    "parallelism": 1,
                    "template": {
                        "service_account": self.email(sa),
                        "max_retries": 0,  # the next scheduled run is the retry
                        "timeout": "300s",
                        "containers": [
                            {
                                "image": join(
                                    f"{self.region}-docker.pkg.dev/",
                                    project,
                                    gate.gate_image(f"/{self.app}"),
                                ),
                                "commands": [gate.GATE_COMMAND[0]],
                                "args": list(gate.GATE_COMMAND[1:]),
                                "envs": [
                                    {
                                        "name": "SVAI_RELEASE_STATE_URL",
                                        "value": state_url(self.project, self.app),
                                    }
                                ],
                            }
                        ],
                    },
                },
            },
            sa,
            "iam-gate-state",
            "iam-gate-metrics",
        )
        self.add(
            "iam-gate-run",
            T.RUN_JOB_IAM,
            {
                "name": name,
                "location": self.region,
                "role": "roles/run.invoker",
                "member": member,
            },
            "gate-job",
        )
        self.routing_grants(member)
        minutes = gate.schedule_minutes(self.plan.rollout)
        run = f"/locations/{self.region}/jobs/{name}:run"
        self.add(
            "gate-schedule",
            T.SCHEDULER_JOB,
            {
                "name": name,
                "region": self.region,
                "description": f"svai {self.plan.name}: run the release gate every {minutes} min",
                "schedule": cron(minutes),
                "time_zone": "Etc/UTC",
                "attempt_deadline": "320s",
                "http_target": {
                    "http_method": "POST",
                    "uri": join("https://run.googleapis.com/v2/projects/", project, run),
                    "oauth_token": {"service_account_email": self.email(sa)},
                },
            },
            "iam-gate-run",
        )
        self.notes.append(
            f"automatic rollback: Cloud Scheduler runs the gate job {name} every {minutes} min "
            f"(state in {state_url(self.project, self.app)}); push the gate image first: "
            f"{gate.gate_image(registry if isinstance(project, str) else '<registry>')}"
        )

    def routing_grants(self, member: Text) -> None:
        """Let the gate move the traffic of each Cloud Run service, and nothing else.

        ``roles/run.developer`` on the service resource (``run.services.update`` is what a
        traffic change needs), and ``roles/iam.serviceAccountUser`` on the service's own
        identity: Cloud Run checks ``iam.serviceAccounts.actAs`` on every service update.
        """
        if not gate.moves_service_traffic(self.plan):
            return
        for service, (key, kind, name) in sorted(self.compute.items()):
            if kind != "run":
                continue
            self.add(
                f"iam-gate-route-{service}",
                T.RUN_IAM,
                {
                    "name": name,
                    "location": self.region,
                    "role": "roles/run.developer",
                    "member": member,
                },
                key,
            )
            sa = f"sa-{service}"
            email = self.email(sa)
            self.add(
                f"iam-gate-actas-{service}",
                T.SERVICE_ACCOUNT_IAM,
                {
                    "service_account_id": (
                        Ref(sa, "name")
                        if isinstance(email, Ref)
                        else f"projects/{self.project}/serviceAccounts/{email}"
                    ),
                    "role": "roles/iam.serviceAccountUser",
                    "member": member,
                },
                sa,
            )


def export_routes(plan: DeploymentPlan, blueprint: Blueprint, built: Any) -> None:
    """Export the Cloud Run services the gate job routes (:func:`gate.routes_output`).

    Each service's id is its full name, ``projects/P/locations/L/services/S``; the revisions
    are those of every version the release routes. Runs inside the Pulumi program.
    """
    import pulumi

    routed = [r for r in blueprint.resources() if r.token == T.RUN_SERVICE and r.ignore_changes]
    if not routed:
        return
    versions = gate.release_versions(plan)

    def entries(ids: list[str]) -> list[dict[str, object]]:
        return [
            gate.route(
                "gcp",
                resource_id,
                {v: revision_name(str(spec.args["name"]), v) for v in versions},
            )
            for resource_id, spec in zip(ids, routed, strict=True)
        ]

    ids = pulumi.Output.all(*(built.resources[r.key].id for r in routed))
    pulumi.export(gate.routes_output(plan), ids.apply(entries))
