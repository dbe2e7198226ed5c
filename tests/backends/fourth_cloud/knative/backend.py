"""The skeleton Knative backend: one ``serving.knative.dev/v1`` Service per plan."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from svai.backends.knative.rules import RULES

from svai.backends.base import Rule
from svai.ir import DeploymentPlan

__all__ = ["KnativeBackend"]

SERVICE = "kubernetes:serving.knative.dev/v1:Service"


class KnativeBackend:
    """Compiles a plan to one Knative Service running the plan's image."""

    cloud = "knative"

    def __init__(self, *, build_dir: str = ".svai/build/knative") -> None:
        self.build_dir = build_dir

    def program(self, plan: DeploymentPlan) -> None:
        """Create the plan's one resource; runs inside a Pulumi program (real or mocked)."""
        service = plan.services[0]
        labels = {"svai.dev/model-version": plan.model_version}
        pulumi.CustomResource(
            SERVICE,
            f"{plan.name}-{service.name}",
            {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "metadata": {"name": f"{plan.name}-{service.name}", "labels": labels},
                "spec": {
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [{"image": f"registry.local/{plan.name}:latest"}],
                        },
                    }
                },
            },
        )

    def rules(self) -> Sequence[Rule]:
        """Return the Knative rules (``SVAI_KN_###``)."""
        return RULES
