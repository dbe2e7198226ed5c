"""A compiled plan: recommendation, deployment plan, recorded resources and findings per target.

Everything ``svai plan`` shows and ``svai diff`` compares.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from svai.compiler.bill import Bill
from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.compiler.recommendation import to_dict as recommendation_dict
from svai.ir import DeploymentPlan, Finding, RecordedResource
from svai.ir import to_dict as plan_dict

__all__ = ["PlanResult", "PlannedTarget", "to_dict"]


@dataclass(frozen=True, slots=True)
class PlannedTarget:
    """One target compiled: recommendation → plan → resources → findings, and its bill."""

    recommendation: TargetRecommendation
    plan: DeploymentPlan
    resources: tuple[RecordedResource, ...]
    findings: tuple[Finding, ...]
    cost: Bill | None = None
    """The deployment's monthly cost, priced from the plan for the recommendation's workload
    (:func:`svai.compiler.bill.plan_cost`; ``svai.api.plan`` always sets it)."""


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
        "infeasible": [recommendation_dict(t) for t in result.recommendation.infeasible],
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
                        # Only where a controller owns inputs: other resources' JSON is unchanged.
                        **({"ignore_changes": list(r.ignore_changes)} if r.ignore_changes else {}),
                    }
                    for r in t.resources
                ],
                "findings": [dataclasses.asdict(f) for f in t.findings],
                **_cost(t.cost),
            }
            for t in result.targets
        ],
    }


def _cost(bill: Bill | None) -> dict[str, Any]:
    if bill is None:
        return {}
    breakdown = {k: round(v, 6) for k, v in bill.breakdown}
    per_release = [
        {
            "service": line.service,
            "held": line.held,
            "instances": line.instances,
            "size": line.size,
            "hours": round(line.hours, 6),
            "usd_per_instance_hour": round(line.usd_per_instance_hour, 6),
            "usd": round(line.usd, 6),
        }
        for line in bill.per_release.lines
    ]
    return {
        "cost": {
            "monthly_usd": round(bill.monthly_usd, 6),
            "breakdown": breakdown,
            # Paid once per canary or blue/green release, beside the month (no release cadence
            # in the spec turns it into a monthly figure).
            "per_release_usd": round(bill.per_release_usd, 6),
            "per_release": per_release,
        }
    }
