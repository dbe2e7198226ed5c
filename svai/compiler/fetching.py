"""Where ``model.fetch: start`` can work: one rule for ``svai plan`` and ``svai build``.

A function runs the model inside each invocation and has no start-up step that could fetch
weights before serving, so ``start`` there is refused: as a high finding by ``svai plan``, as an
error by ``svai build`` (which would otherwise leave the model out of a package that cannot get
it).
"""

from __future__ import annotations

from svai.compiler.catalog import load_catalog
from svai.compiler.recommendation import TargetRecommendation
from svai.ir import Finding
from svai.spec.resolve import ResolvedSpec

__all__ = ["RULE", "fetch_findings", "runs_server", "start_fetch_refusal"]

RULE = "SVAI_FETCH_001"


def runs_server(rec: TargetRecommendation) -> bool:
    """Whether the target runs svai's server process (which can fetch before it turns ready)."""
    offering = load_catalog().get(rec.choice.offering)
    return rec.choice.package != "zip" and offering.kind != "faas"


def start_fetch_refusal(spec: ResolvedSpec, rec: TargetRecommendation) -> str | None:
    """Why ``model.fetch: start`` cannot work on this target, if it cannot."""
    if spec.model.fetch != "start" or runs_server(rec):
        return None
    name = load_catalog().get(rec.choice.offering).name
    return (
        f"model.fetch: start: {name} ({rec.cloud}-{rec.region}) runs the model in a "
        "function, which fetches nothing at start; use fetch: build (or auto), or a "
        "container (targets[].runtime: container)"
    )


def fetch_findings(spec: ResolvedSpec, rec: TargetRecommendation) -> tuple[Finding, ...]:
    """A high finding where the spec asks for a start-time fetch the target cannot do."""
    refusal = start_fetch_refusal(spec, rec)
    if refusal is None:
        return ()
    hint = "set model.fetch: build (or auto), or deploy this target as a container"
    return (Finding(RULE, "high", refusal, None, hint, rec.cloud),)
