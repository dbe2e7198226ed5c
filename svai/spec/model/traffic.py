"""The ``api``, ``latency``, ``traffic`` and ``gpu`` sections: how the model is called."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from svai.spec.model.base import FieldError, Strict
from svai.spec.model.scalars import Duration, Rate, RelPath, Size
from svai.spec.units import parse_duration

__all__ = ["Api", "Batch", "Gpu", "Jwt", "Latency", "Tokens", "Traffic"]


class Jwt(Strict):
    """JWT validation at the API layer."""

    issuer: Annotated[str, Field(pattern=r"^https://\S{1,200}$")]
    """Issuer URL (``https://...``)."""
    audience: Annotated[str, Field(min_length=1, max_length=200)]
    """Expected audience claim."""


class Api(Strict):
    """How callers reach the model."""

    mode: Literal["sync", "async", "auto"] = "auto"
    """``sync`` answers in the request (pattern A); ``async`` queues a job and returns its id
    (pattern B); ``auto`` lets the recommender decide from latency, payload and inference time."""
    max_payload: Size = "1MB"
    """Largest request body; bigger bodies are refused with 413 before they are read."""
    input_schema: RelPath | None = None
    """JSON Schema file for request bodies; invalid payloads get a 4xx naming the field."""
    timeout: Duration = "30s"
    """Longest time one request may take end to end."""
    auth: Literal["iam", "api-key", "jwt", "none"] = "iam"
    """Caller authentication; ``none`` makes the endpoint public and is reported by ``svai check``."""
    jwt: Jwt | None = None
    """Issuer and audience; required when ``auth: jwt``."""
    content_types: list[Annotated[str, Field(pattern=r"^[a-z]+/[a-z0-9.+\-]+$")]] = Field(
        default_factory=lambda: ["application/json"], min_length=1, max_length=8
    )
    """Accepted request content types."""
    rate_limit: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    """Requests per second the API layer admits before throttling (default: sized from traffic)."""

    @model_validator(mode="after")
    def _jwt(self) -> Api:
        if self.auth == "jwt" and self.jwt is None:
            raise FieldError("auth", "`auth: jwt` needs `jwt: {issuer, audience}`")
        if self.auth != "jwt" and self.jwt is not None:
            raise FieldError("jwt", "`jwt` is only used with `auth: jwt`")
        return self


class Latency(Strict):
    """Latency targets for one prediction, measured at the API layer."""

    p50: Duration | None = None
    """Median target."""
    p95: Duration | None = None
    """95th percentile target."""
    p99: Duration | None = None
    """99th percentile target."""
    ttft: Duration | None = None
    """Time to first token, p95 over requests, cold starts included (``task: text-generation``)."""
    tpot: Duration | None = None
    """Time per output token once the first has arrived (``task: text-generation``):
    ``50ms`` is 20 output tokens per second per request."""

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        given = [
            (n, parse_duration(v))
            for n, v in (("p50", self.p50), ("p95", self.p95), ("p99", self.p99))
            if v
        ]
        for (low_name, low), (high_name, high) in itertools.pairwise(given):
            if low > high:
                raise FieldError(
                    low_name, f"{low_name} ({low:g}s) must not exceed {high_name} ({high:g}s)"
                )
        return self


class Batch(Strict):
    """Batch arrivals: many requests at once, a few times a day."""

    items: Annotated[int, Field(ge=1, le=100_000_000)]
    """Requests in one batch."""
    per_day: Annotated[int, Field(ge=1, le=1440)] = 1
    """Batches per day."""
    window: Duration = "1h"
    """How soon a batch must be finished."""


class Bursts(Strict):
    """On/off bursts of random length (``pattern: bursty``).

    ``peak_rps`` during a burst, ``baseline_rps`` between bursts; both lengths are exponential
    with these means.
    """

    mean_on: Duration
    """Mean length of a burst."""
    mean_off: Duration
    """Mean gap between two bursts."""


class Tokens(Strict):
    """Traffic in tokens for a text-generation model: what one request reads and writes."""

    prompt: Annotated[int, Field(ge=1, le=10_000_000)]
    """Prompt tokens per request (typical)."""
    output: Annotated[int, Field(ge=1, le=1_000_000)]
    """Output tokens per request (typical)."""
    context: Annotated[int, Field(ge=2, le=10_000_000)] | None = None
    """Longest context a request may use (prompt + output); sizes the KV cache. Default
    ``prompt + output``."""

    @model_validator(mode="after")
    def _fits(self) -> Tokens:
        if self.context is not None and self.context < self.prompt + self.output:
            raise FieldError(
                "context",
                f"context ({self.context}) must hold prompt + output "
                f"({self.prompt} + {self.output} = {self.prompt + self.output} tokens)",
            )
        return self


class Traffic(Strict):
    """The traffic the model will see; drives warm pools, cold starts and cost."""

    pattern: Literal["steady", "spiky", "diurnal", "batch", "profile", "bursty", "trace"]
    """Shape of the day: flat, rare sharp peaks, a day/night curve, batches, an explicit profile,
    random on/off bursts, or a measured trace."""
    baseline_rps: Rate = 0.0
    """Requests per second outside peaks."""
    peak_rps: Rate | None = None
    """Requests per second at the peak (spiky, diurnal)."""
    peak_duration: Duration | None = None
    """Total peak time per day (spiky)."""
    peaks_per_day: Annotated[int, Field(ge=1, le=288)] = 1
    """How many separate peaks that time is split into (spiky)."""
    idle_hours: Annotated[float, Field(ge=0, le=24)] = 0.0
    """Hours per day with no traffic at all."""
    profile: list[Rate] | None = None
    """Explicit requests per second for each hour of the day, 24 values (``pattern: profile``)."""
    batch: Batch | None = None
    """Batch arrivals (``pattern: batch``)."""
    bursts: Bursts | None = None
    """Mean burst and gap lengths (``pattern: bursty``)."""
    trace: str | None = None
    """A CSV of requests per minute (``pattern: trace``), relative to the spec: one count per
    row, or ``minute,requests`` rows; a header row is allowed; 1 to 1,440 minutes, repeated
    over the day."""
    payload: Size | None = None
    """Typical request body size."""
    tokens: Tokens | None = None
    """Prompt and output tokens per request and the context length (``task: text-generation``);
    sizes the KV cache and predicts time to first token and tokens per second."""

    @model_validator(mode="after")
    def _shape(self) -> Traffic:
        p = self.pattern
        if p == "profile":
            if self.profile is None or len(self.profile) != 24:
                raise FieldError(
                    "profile", "`pattern: profile` needs `profile` with exactly 24 hourly values"
                )
        elif self.profile is not None:
            raise FieldError("profile", "`profile` is only used with `pattern: profile`")
        if p == "batch" and self.batch is None:
            raise FieldError("pattern", "`pattern: batch` needs `batch: {items, per_day, window}`")
        if p != "batch" and self.batch is not None:
            raise FieldError("batch", "`batch` is only used with `pattern: batch`")
        if p == "bursty" and self.bursts is None:
            raise FieldError("pattern", "`pattern: bursty` needs `bursts: {mean_on, mean_off}`")
        if p != "bursty" and self.bursts is not None:
            raise FieldError("bursts", "`bursts` is only used with `pattern: bursty`")
        if p == "trace" and self.trace is None:
            raise FieldError(
                "pattern", "`pattern: trace` needs `trace` (a CSV of requests per minute)"
            )
        if p != "trace" and self.trace is not None:
            raise FieldError("trace", "`trace` is only used with `pattern: trace`")
        if p in ("spiky", "diurnal", "bursty"):
            if self.peak_rps is None:
                raise FieldError("pattern", f"`pattern: {p}` needs `peak_rps`")
            if self.peak_rps < self.baseline_rps:
                raise FieldError(
                    "peak_rps",
                    f"peak_rps ({self.peak_rps:g}) is below baseline_rps ({self.baseline_rps:g})",
                )
        if p == "spiky" and self.peak_duration is None:
            raise FieldError(
                "pattern", "`pattern: spiky` needs `peak_duration` (total peak time per day)"
            )
        if p == "steady" and self.baseline_rps <= 0:
            raise FieldError("baseline_rps", "`pattern: steady` needs `baseline_rps` above 0")
        if self.peak_duration is not None and parse_duration(self.peak_duration) > 86400 * (
            1 - self.idle_hours / 24
        ):
            raise FieldError(
                "peak_duration", "peak_duration is longer than the non-idle part of the day"
            )
        return self


class Gpu(Strict):
    """GPU needs."""

    required: bool = False
    """The model needs a GPU to meet its targets (or to run at all)."""
    type: Literal["any", "t4", "l4", "a10g", "a100", "h100"] = "any"
    """GPU model; ``any`` lets the recommender choose per cloud."""
    count: Annotated[int, Field(ge=1, le=8)] = 1
    """GPUs per instance."""
    memory: Size | None = None
    """GPU memory the model needs; filters out smaller GPUs."""
