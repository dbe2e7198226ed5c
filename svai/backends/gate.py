"""What every cloud's automatic rollback shares: when it applies, how often the gate runs, where.

Backends add automatic rollback only to canary and blue/green releases (an all-at-once plan is
unchanged). Where the cloud has its own mechanism (CodeDeploy for Lambda, deployment guardrails
for SageMaker) the backend uses it; elsewhere it deploys svai's scheduled gate job
(:mod:`svai.controller`), which runs ``svai gate --once`` against the deployment's bucket.

Pure: no Pulumi, no I/O.
"""

from __future__ import annotations

from typing import Literal

from svai import __version__
from svai.compiler import gate as _gate
from svai.ir import DeploymentPlan

__all__ = [
    "GATE_COMMAND",
    "ROUTES_SUFFIX",
    "STATE_PREFIX",
    "AliasOwner",
    "alias_owner",
    "automatic",
    "controller_owns_alias",
    "gate_image",
    "moves_lambda_traffic",
    "moves_service_traffic",
    "release_versions",
    "route",
    "routes_output",
    "schedule_minutes",
]

GATE_COMMAND = ("svai", "gate", "--once")
"""What the scheduled job runs; it finds every release through ``SVAI_RELEASE_STATE_URL``."""

STATE_PREFIX = "svai"
"""Where in the deployment's bucket the release state and policies live (``svai/releases/``)."""


def automatic(plan: DeploymentPlan) -> bool:
    """Whether ``plan``'s rollout is rolled back automatically (canary or blue/green)."""
    return _gate.automatic(plan.rollout)


def moves_lambda_traffic(plan: DeploymentPlan) -> bool:
    """Whether svai's gate job, not ``pulumi up``, routes ``plan``'s Lambda ``live`` aliases.

    True for a canary or blue/green rollout on a cloud whose gate job routes aliases (AWS's
    Lambda) whose steps CodeDeploy cannot express: the job
    routes each alias (``svai.controller.traffic``), the backend marks the alias's split
    ``ignore_changes``, and ``svai apply`` routes it through the job's own call after ``up``.
    """
    return alias_owner(plan) == "gate"


AliasOwner = Literal["gate", "codedeploy"]
"""Who moves a Lambda ``live`` alias during a release, in place of ``pulumi up``."""


def alias_owner(plan: DeploymentPlan) -> AliasOwner | None:
    """Who routes ``plan``'s Lambda ``live`` aliases once they exist; ``None``: ``pulumi up``.

    ``codedeploy`` for a canary or blue/green rollout on a cloud whose gate job routes aliases whose steps CodeDeploy can express
    (one canary step, equal linear steps, blue/green's switch): ``svai apply`` starts a
    CodeDeploy deployment after ``up`` (:mod:`svai.controller.codedeploy`), which shifts the
    alias and rolls it back on the release's alarms. ``gate`` for the steps it cannot express
    (:func:`moves_lambda_traffic`). All-at-once releases leave the alias to ``up``.
    """
    if _gate_routes(plan) != "aliases" or not automatic(plan):
        return None
    return "gate" if _gate.native_shift(plan.rollout) is None else "codedeploy"


def controller_owns_alias(plan: DeploymentPlan) -> bool:
    """Whether the backend marks the ``live`` aliases' split ``ignore_changes`` (an owner moves it).

    The one answer the AWS backend asks: otherwise the next ``up`` would undo what the gate job
    or CodeDeploy routed.
    """
    return alias_owner(plan) is not None


def moves_service_traffic(plan: DeploymentPlan) -> bool:
    """Whether svai's gate job, not ``pulumi up``, routes ``plan``'s revisions.

    True for a canary or blue/green rollout on a cloud whose gate job routes services (GCP's
    Cloud Run services, Azure's Container Apps with ingress): neither cloud runs a canary by itself, so the job always does. The
    backend then names every revision in the traffic (a new revision takes no traffic until it
    is routed), marks the traffic ``ignore_changes`` and exports the routes
    (:func:`routes_output`); ``svai apply`` routes them after ``up`` through the job's call.
    """
    return _gate_routes(plan) == "services" and automatic(plan)


def _gate_routes(plan: DeploymentPlan) -> str | None:
    """What the gate job routes on ``plan``'s cloud (:attr:`svai.backends.cloud.Cloud.gate_routes`)."""
    from svai.backends.registry import cloud  # the registry imports the backends, which import this

    return cloud(plan.cloud).gate_routes


ROUTES_SUFFIX = "_release_routes"
"""Stack output ``<cloud>_<region>_release_routes``: the services the gate job routes."""


def routes_output(plan: DeploymentPlan) -> str:
    """The stack output naming ``plan``'s routed services (one per target)."""
    return f"{plan.cloud}_{plan.region}{ROUTES_SUFFIX}"


def release_versions(plan: DeploymentPlan) -> tuple[str, ...]:
    """Every model version ``plan``'s release routes: the split's and the plan's own, sorted."""
    return tuple(sorted({plan.model_version, *(part.version for part in plan.rollout.split)}))


def route(cloud: str, resource: str, revisions: dict[str, str]) -> dict[str, object]:
    """One entry of the routes output (:func:`svai.compiler.gate.routes_from_list` reads it)."""
    return {"cloud": cloud, "resource": resource, "revisions": dict(sorted(revisions.items()))}


schedule_minutes = _gate.schedule_minutes
"""How often the gate job runs: once per ``rollout.interval``, at least every minute."""


def gate_image(registry: str) -> str:
    """The gate job's container image in ``registry`` (svai with the cloud extras, this version).

    It is svai itself (``pip install svai[aws,gcp,azure]``, entry point ``svai``); svai does not
    build it yet: ``docs/operate.md`` gives the two commands that push it.
    """
    return f"{registry}/svai-gate:{__version__}"
