"""A compiled plan: recommendation, deployment plan, recorded resources and findings per target.

Everything ``svai plan`` shows and ``svai diff`` compares.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.compiler.recommendation import to_dict as recommendation_dict
from svai.ir import DeploymentPlan, Finding, RecordedResource
from svai.ir import to_dict as plan_dict

__all__ = ["PlanResult", "PlannedTarget", "to_dict"]


@dataclass(frozen=True, slots=True)
class PlannedTarget:
    """One target compiled: recommendation → plan → resources → findings."""

    recommendation: TargetRecommendation
    plan: DeploymentPlan
    resources: tuple[RecordedResource, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class PlanResult:
    """Every target of a spec compiled."""

    name: str
    model_version: str
    recommendation: Recommendation
    targets: tuple[PlannedTarget, ...]


def to_dict(result: PlanResult) -> dict[str, Any]:
    """Return the whole plan as JSON-ready data (the contract of ``svai plan --format json``)."""
    return {
        "name": result.name,
        "model_version": result.model_version,
        "targets": [
            {
                "cloud": t.plan.cloud,
                "region": t.plan.region,
                "recommendation": recommendation_dict(t.recommendation),
                "plan": plan_dict(t.plan),
                "resources": [
                    {
                        "type": r.type,
                        "name": r.name,
                        "component": r.component,
                        "parent": r.parent,
                        "inputs": r.inputs,
                    }
                    for r in t.resources
                ],
                "findings": [dataclasses.asdict(f) for f in t.findings],
            }
            for t in result.targets
        ],
    }
