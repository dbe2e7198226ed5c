"""The GCP backend object that ``svai.backends.registry`` loads as ``svai.backends.gcp:GcpBackend``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from svai.backends.base import Rule
from svai.backends.gate import automatic
from svai.backends.gcp.blueprint import Blueprint, PendingAction, pending
from svai.backends.gcp.gate import export_routes, state_url
from svai.backends.gcp.lowering import lower
from svai.ir import DeploymentPlan

__all__ = ["BILLING_ACCOUNT_ENV", "GcpBackend"]

BILLING_ACCOUNT_ENV = "SVAI_GCP_BILLING_ACCOUNT"
"""Environment variable naming the billing account the budget is created under."""


class GcpBackend:
    """Compiles a plan to pulumi-gcp resources and checks them with the GCP rules.

    Args:
        billing_account: Billing account id for the budget. Defaults to the
            ``SVAI_GCP_BILLING_ACCOUNT`` environment variable; without one the budget becomes a
            pending action (a GCP budget belongs to a billing account, not to a project).
        build_dir: The target's ``svai build`` folder (functions upload its ``function.zip``).
    """

    cloud = "gcp"

    def __init__(
        self, billing_account: str | None = None, build_dir: str = ".svai/build/gcp"
    ) -> None:
        self.billing_account = billing_account or os.environ.get(BILLING_ACCOUNT_ENV) or None
        self.build_dir = build_dir

    def lower(self, plan: DeploymentPlan) -> Blueprint:
        """Return the pure lowering of ``plan`` (resource specs, pending actions, notes)."""
        return lower(plan, billing_account=self.billing_account, build_dir=self.build_dir)

    def pending_actions(self, plan: DeploymentPlan) -> tuple[PendingAction, ...]:
        """Return the steps svai performs outside Pulumi after ``up`` (e.g. Vertex deployModel)."""
        return pending(self.lower(plan))

    def after_up(self, plan: DeploymentPlan) -> dict[str, Any]:
        """Make the calls Pulumi cannot (Vertex model upload and deploy) once the stack is up.

        Returns what they produced (model name, deployed model id) and the manual steps left.

        Raises:
            ToolMissingError: no Google access token can be had.
            DeployError: a call failed.
        """
        actions = self.pending_actions(plan)
        if not any(a.method != "manual" for a in actions):
            return {"manual": [a.to_dict() for a in actions]} if actions else {}
        from svai.backends.gcp.actions import access_token, run_pending

        return run_pending(actions, token=access_token())

    def program(self, plan: DeploymentPlan) -> None:
        """Create the deployment's resources; runs inside a Pulumi program (real or mocked)."""
        from svai.backends.gcp.components import build  # pulumi_gcp loads only when planning

        blueprint = self.lower(plan)
        (deployment,) = build(blueprint)
        if automatic(plan):  # where svai promote finds the gate job's release state
            import pulumi

            pulumi.export(
                "gcp_release_state_url", state_url(plan.account, blueprint.groups[0].name)
            )
            export_routes(plan, blueprint, deployment.built)  # the services the gate job routes

    def rules(self) -> Sequence[Rule]:
        """Return the GCP infrastructure rules (``SVAI_GCP_###``)."""
        from svai.backends.gcp.rules import RULES

        return RULES
