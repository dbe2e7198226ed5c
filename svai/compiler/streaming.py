"""Whether a text-generation deployment can stream on the path svai builds, and what follows.

The facts are the catalog's ``builds.offerings.*.streaming`` (:meth:`Builds.streams`). Where a
path cannot stream, the plan carries a finding (``SVAI_STREAM_001``) and the package's runtime
config sets ``generation.streaming: false``, so ``stream: true`` gets a 400
``streaming_unsupported`` rather than an answer a buffering proxy holds back until the end.

On AWS a SageMaker endpoint streams through a second function beside its proxy: a Lambda
function URL in ``InvokeMode: RESPONSE_STREAM`` calling ``InvokeEndpointWithResponseStream``
(:func:`stream_url`; the runtime is :mod:`svai.runtime.entry.sagemaker_stream`).
"""

from __future__ import annotations

from svai.compiler.catalog import load_catalog
from svai.compiler.recommendation import TargetRecommendation
from svai.ir import Finding
from svai.spec.engines import Engine, gpu_engine
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "RULE",
    "STREAM_BOOTSTRAP",
    "stream_url",
    "streaming_findings",
    "streams",
]

RULE = "SVAI_STREAM_001"
STREAM_BOOTSTRAP = "svai_stream_bootstrap"
"""The zip's script ``AWS_LAMBDA_EXEC_WRAPPER`` names: it starts svai's streaming runtime loop."""


def stream_url(spec: ResolvedSpec, offering: str) -> bool:
    """Whether ``offering`` gets svai's response-streaming URL for ``spec``'s model.

    Where the catalog says so (``builds.offerings.*.stream_url``: a real-time SageMaker
    endpoint), for a text-generation model.
    """
    engine = gpu_engine(spec)
    return (
        isinstance(engine, Engine)
        and engine.task == "text-generation"
        and load_catalog().builds.stream_url(offering)
    )


def streams(rec: TargetRecommendation | None) -> bool:
    """Whether streamed answers reach the caller on ``rec``'s offering (no target: a local run)."""
    return rec is None or load_catalog().builds.streams(rec.choice.offering)[0]


def streaming_findings(spec: ResolvedSpec, rec: TargetRecommendation) -> tuple[Finding, ...]:
    """The plan's finding for a text-generation model on a path that cannot stream (or none)."""
    engine = gpu_engine(spec)
    if not isinstance(engine, Engine) or engine.task != "text-generation":
        return ()
    ok, how = load_catalog().builds.streams(rec.choice.offering)
    if ok:
        return ()
    message = (
        f"{rec.choice.name} cannot stream generated text on svai's path: {how}. "
        "The runtime answers `stream: true` with a 400 streaming_unsupported; "
        "`stream: false` answers arrive whole"
    )
    hint = (
        "callers send stream: false on this target, or choose an offering that streams "
        "(gcp.cloudrun.service, azure.containerapps) with targets[].offering"
    )
    return (Finding(RULE, "medium", message, None, hint, rec.cloud),)
