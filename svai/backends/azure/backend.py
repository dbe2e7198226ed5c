"""The Azure backend object that ``svai.backends.registry`` loads by name."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence

from svai.backends.base import Rule
from svai.ir import DeploymentPlan

__all__ = ["AzureBackend"]


class AzureBackend:
    """Compiles a :class:`DeploymentPlan` into pulumi-azure-native resources.

    Azure accepts a budget start date only within the current month, so the one input that
    depends on the clock is the budget's first month. It is today's (UTC) month, or the month of
    ``SOURCE_DATE_EPOCH`` when that variable is set (the reproducible-builds convention), so
    golden plans stay byte-identical.

    Args:
        today: Returns the date the budget starts from (its month); overrides the above.
        build_dir: The target's ``svai build`` folder (function apps upload its
            ``function.zip`` as their Flex Consumption package).
    """

    cloud = "azure"

    def __init__(
        self, today: Callable[[], dt.date] | None = None, build_dir: str = ".svai/build/azure"
    ) -> None:
        self._today = today or _today
        self.build_dir = build_dir

    def program(self, plan: DeploymentPlan) -> None:
        """Create the deployment's resources; runs inside a Pulumi program (real or mocked)."""
        from svai.backends.azure.components import build
        from svai.backends.azure.lowering import lower, month_start

        blueprint = lower(plan, budget_start=month_start(self._today()), build_dir=self.build_dir)
        groups = build(blueprint)
        if any(g.shape == "ReleaseGate" for g in blueprint.groups):
            import pulumi

            from svai.backends.azure.gate import export_routes, state_url
            from svai.backends.azure.naming import compact_name

            # Where svai promote finds the gate job's release state, and what the job routes.
            pulumi.export("azure_release_state_url", state_url(compact_name(plan, "svai")))
            export_routes(plan, blueprint, groups[0].built)

    def rules(self) -> Sequence[Rule]:
        """Return the Azure infrastructure rules (``SVAI_AZ_###``)."""
        from svai.backends.azure.rules import RULES

        return RULES


def _today() -> dt.date:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date()
    return dt.datetime.now(dt.UTC).date()
