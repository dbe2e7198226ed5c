"""Where ``observability.tracing: otel`` applies: the targets that run svai's server process.

The container server exports a span per request and request metrics over OTLP
(:mod:`svai.runtime.core.otel`). A function (Lambda, a Cloud Run function, an Azure Function)
keeps its EMF / structured log lines, which its platform turns into metrics with no exporter,
collector or extra cold-start import; the plan says so with a low finding instead of failing.
"""

from __future__ import annotations

from svai.compiler.catalog import load_catalog
from svai.compiler.fetching import runs_server
from svai.compiler.recommendation import TargetRecommendation
from svai.ir import Finding
from svai.spec.resolve import ResolvedSpec

__all__ = ["RULE", "tracing_findings"]

RULE = "SVAI_OTEL_001"


def tracing_findings(spec: ResolvedSpec, rec: TargetRecommendation) -> tuple[Finding, ...]:
    """A low finding where the spec asks for OTel on a target that runs the model in a function."""
    if spec.observability.tracing != "otel" or runs_server(rec):
        return ()
    name = load_catalog().get(rec.choice.offering).name
    message = (
        f"observability.tracing: otel: {name} ({rec.cloud}-{rec.region}) runs the model in a "
        "function, which keeps its EMF / structured log lines (the metrics svai status reads); "
        "no OTLP spans are exported there"
    )
    hint = "deploy this target as a container (targets[].runtime: container) for OTLP traces"
    return (Finding(RULE, "low", message, None, hint, rec.cloud),)
