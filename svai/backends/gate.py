"""What every cloud's automatic rollback shares: when it applies, how often the gate runs, where.

Backends add automatic rollback only to canary and blue/green releases (an all-at-once plan is
unchanged). Where the cloud has its own mechanism (CodeDeploy for Lambda, deployment guardrails
for SageMaker) the backend uses it; elsewhere it deploys svai's scheduled gate job
(:mod:`svai.controller`), which runs ``svai gate --once`` against the deployment's bucket.

Pure: no Pulumi, no I/O.
"""

from __future__ import annotations

from svai import __version__
from svai.compiler import gate as _gate
from svai.ir import DeploymentPlan

__all__ = [
    "GATE_COMMAND",
    "STATE_PREFIX",
    "automatic",
    "gate_image",
    "moves_lambda_traffic",
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

    True for an AWS canary or blue/green rollout whose steps CodeDeploy cannot express: the job
    routes each alias (``svai.controller.traffic``), the backend marks the alias's split
    ``ignore_changes``, and ``svai apply`` routes it through the job's own call after ``up``.
    Cloud Run and Container Apps traffic is not moved by the job yet.
    """
    return plan.cloud == "aws" and automatic(plan) and _gate.native_shift(plan.rollout) is None


schedule_minutes = _gate.schedule_minutes
"""How often the gate job runs: once per ``rollout.interval``, at least every minute."""


def gate_image(registry: str) -> str:
    """The gate job's container image in ``registry`` (svai with the cloud extras, this version).

    It is svai itself (``pip install svai[aws,gcp,azure]``, entry point ``svai``); svai does not
    build it yet: ``docs/operate.md`` gives the two commands that push it.
    """
    return f"{registry}/svai-gate:{__version__}"
