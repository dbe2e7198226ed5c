"""The ``svai.yaml`` spec as the user writes it: pydantic models, strict, every field described.

This module is the single source of truth for the file format; ``svai/spec/svai.schema.json`` is
generated from it (``svai schema``) and a test fails when the two drift. Values keep the form the
user wrote (``"250ms"``, ``"512MiB"``); :func:`svai.spec.resolve.resolve` turns them into numbers
and fills defaults.

Checks that span fields live in ``model_validator`` methods here; they are the pydantic-only part
of validation (JSON Schema cannot express them) and are listed in ``docs/spec.md``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from svai.spec.clouds import Cloud
from svai.spec.source import SOURCE_PATTERN, parse_source, pin_problem
from svai.spec.units import DURATION_PATTERN, SIZE_PATTERN, parse_duration, parse_size, quote

__all__ = [
    "Alarms",
    "Api",
    "Backoff",
    "Batch",
    "Cache",
    "Cloud",
    "Drift",
    "DriftThreshold",
    "Duration",
    "EncryptionKeys",
    "Fallback",
    "FeatureThreshold",
    "FieldError",
    "Framework",
    "Gates",
    "Gpu",
    "Idempotency",
    "Jwt",
    "Latency",
    "Model",
    "Network",
    "Observability",
    "Optimize",
    "Overrides",
    "Reliability",
    "RollbackOn",
    "Rollout",
    "RuntimeKind",
    "SecretRefs",
    "SecretValueError",
    "Security",
    "Size",
    "Spec",
    "Target",
    "Tenancy",
    "Tokens",
    "Traffic",
    "Trust",
]


class FieldError(ValueError):
    """A cross-field problem that one field of the section is best blamed for.

    The loader reports it at that field (``latency.p95``) rather than at the whole section, when
    the field is present in the file.
    """

    def __init__(self, field: str | tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.field: tuple[str, ...] = (field,) if isinstance(field, str) else field


class SecretValueError(ValueError):
    """A secret *value* written where a secret manager reference belongs."""


class _Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,
    )


# ---- scalar types with units and shapes -------------------------------------------------------


def _unit_checker(kind: str, parse: Any, example: str) -> Any:
    def check(value: object) -> object:
        if isinstance(value, bool) or value is None:
            return value  # let the str validator report the wrong type
        if isinstance(value, int | float):
            raise ValueError(
                f"a bare number is ambiguous for a {kind}; write it with a unit, e.g. "
                f"{example.format(value=value)}"
            )
        if isinstance(value, str):
            parse(value)
        return value

    return check


Duration = Annotated[
    str,
    BeforeValidator(_unit_checker("duration", parse_duration, "`{value}ms` or `{value}s`")),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["250ms", "30s", "10m", "7d"]}
    ),
]
"""A duration with its unit: ``250ms``, ``30s``, ``10m``, ``2h``, ``7d``."""

Size = Annotated[
    str,
    BeforeValidator(_unit_checker("size", parse_size, "`{value}MB` or `{value}MiB`")),
    WithJsonSchema(
        {"type": "string", "pattern": SIZE_PATTERN, "examples": ["256KB", "512MiB", "2GB", "16Gi"]}
    ),
]
"""A size with its unit: ``256KB``, ``512MiB``, ``2GB``, ``16Gi`` (KB decimal, KiB binary)."""

_REL_PATH_RE = re.compile(r"^(?!/)(?![A-Za-z]:)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.\-/]{1,255}$")
_REL_PATH_PATTERN = _REL_PATH_RE.pattern


def _check_rel_path(value: object) -> object:
    if isinstance(value, str) and not _REL_PATH_RE.fullmatch(value):
        if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
            raise ValueError(
                f"{quote(value)} is absolute; paths are relative to the svai.yaml folder"
            )
        if ".." in value.split("/"):
            raise ValueError(f"{quote(value)} climbs out of the project folder with `..`")
        raise ValueError(
            f"{quote(value)} is not a plain relative path (letters, digits, `_ . - /`, at most 255)"
        )
    return value


RelPath = Annotated[
    str,
    BeforeValidator(_check_rel_path),
    WithJsonSchema({"type": "string", "pattern": _REL_PATH_PATTERN}),
]
"""A path relative to the folder of ``svai.yaml``; it may not be absolute or climb out with ``..``."""

_ENTRY_RE = re.compile(
    r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.\-/]{1,200}\.py:[A-Za-z_][A-Za-z0-9_]{0,79}$"
)


def _check_entry(value: object) -> object:
    if isinstance(value, str) and not _ENTRY_RE.fullmatch(value):
        raise ValueError(
            f"{quote(value)} is not an entry point; write `relative/path.py:function` "
            "(no absolute paths, no `..`)"
        )
    return value


EntryPoint = Annotated[
    str,
    BeforeValidator(_check_entry),
    WithJsonSchema(
        {"type": "string", "pattern": _ENTRY_RE.pattern, "examples": ["src/pre.py:prepare"]}
    ),
]
"""A Python function in the project: ``src/pre.py:prepare``."""

_REQUIREMENT_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)"
    r"(?:\[[A-Za-z0-9._,-]{1,100}\])?==(?P<version>[A-Za-z0-9.!+_-]{1,64})$"
)


def _check_requirement(value: object) -> object:
    if isinstance(value, str) and not _REQUIREMENT_RE.fullmatch(value.strip()):
        raise ValueError(
            f"{quote(value)} is not a pinned requirement; write `name==version` "
            "(`pip show NAME` gives the installed version), so every build installs the same code"
        )
    return value.strip() if isinstance(value, str) else value


Requirement = Annotated[
    str,
    BeforeValidator(_check_requirement),
    WithJsonSchema(
        {"type": "string", "pattern": _REQUIREMENT_RE.pattern, "examples": ["tokenizers==0.21.1"]}
    ),
]
"""A Python package pinned to one version: ``name==version`` (extras allowed: ``name[x]==1.0``)."""

Name = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$", examples=["sentiment", "doc-embed"])
]

RuntimeKind = Literal["auto", "faas", "container", "endpoint"]
Framework = Literal[
    "onnx", "sklearn", "xgboost", "lightgbm", "catboost", "pytorch", "transformers", "custom"
]
Rate = Annotated[float, Field(ge=0, le=1_000_000)]
Fraction = Annotated[float, Field(ge=0, le=1)]


# ---- model ------------------------------------------------------------------------------------


class Optimize(_Strict):
    """Build-time optimisation of the model artifact."""

    quantize: Literal["none", "int8", "fp16"] = "none"
    """Weight quantisation; int8 is dynamic quantisation, checked against fp32 before it is kept."""
    max_accuracy_drop: Fraction = 0.01
    """Largest accuracy loss (0-1) quantisation may cost; beyond it svai keeps fp32 and says so."""


class Trust(_Strict):
    """Explicit trust for pickle-family artifacts (pickle, joblib, torch .pt), which can run code."""

    pickle: bool = False
    """Allow a pickle-family artifact; requires ``sha256``."""
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """The artifact's SHA-256 (64 lowercase hex digits); loading refuses any other file."""

    @model_validator(mode="after")
    def _pinned(self) -> Trust:
        if self.pickle and self.sha256 is None:
            raise FieldError("pickle", "trusting a pickle-family artifact requires its `sha256`")
        return self


def _check_artifact(value: object) -> object:
    if not isinstance(value, str):
        return value
    if "://" not in value:
        return _check_rel_path(value.rstrip("/") if value.endswith("/") else value)
    parse_source(value)  # raises ValueError with the accepted form
    return value


Artifact = Annotated[
    str,
    BeforeValidator(_check_artifact),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"pattern": _REL_PATH_PATTERN}, {"pattern": SOURCE_PATTERN}],
            "examples": [
                "./model/model.onnx",
                "s3://bucket/model.onnx?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                "gs://bucket/model.onnx#1712345678901234",
                "https://account.blob.core.windows.net/models/model.onnx",
                "hf://org/name@0123456789abcdef0123456789abcdef01234567",
            ],
        }
    ),
]


class Fallback(_Strict):
    """What answers when the main model fails or is too slow: a smaller model or a rules function."""

    model: Artifact | None = None
    """Artifact of a smaller model (same forms as ``model.artifact``); a remote one is fetched at
    build and ships in the package, so it answers when the store or the network cannot."""
    framework: Framework | None = None
    """Framework of the fallback model; defaults to the main model's."""
    rules: EntryPoint | None = None
    """A rules function ``path.py:function`` that answers without a model."""
    after: Duration | None = None
    """Answer from the fallback when the main model has not answered by then (default: on error)."""

    @model_validator(mode="after")
    def _one_source(self) -> Fallback:
        if (self.model is None) == (self.rules is None):
            raise ValueError(
                "give exactly one of `model` (a smaller model) or `rules` (a function)"
            )
        problem = pin_problem(parse_source(self.model), None) if self.model else None
        if problem is not None:
            raise FieldError("model", f"{problem[0]}; pin the store's version in the location")
        return self


class Model(_Strict):
    """The model to serve and how to prepare it."""

    artifact: Artifact
    """Where the model is: a relative path, ``s3://BUCKET/KEY[?versionId=]``,
    ``gs://BUCKET/OBJECT[#GENERATION]``, ``https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH``
    or ``hf://ORG/NAME@<commit>[/PATH]``; a trailing ``/`` names a folder."""
    revision: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] | None = None
    """Pinned revision (a 40-hex commit) for ``hf://`` artifacts; or write ``hf://org/name@rev``."""
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """SHA-256 of the artifact (of a folder: of its manifest); pins a remote artifact, and the build
    refuses any other bytes."""
    allow_moving_revision: bool = False
    """Accept an ``hf://`` branch or tag revision that can move between builds (warned about)."""
    fetch: Literal["auto", "build", "start"] = "auto"
    """Where the prepared model lives: ``build`` packages it; ``start`` uploads it to the
    deployment's bucket by digest and the runtime fetches and verifies it at start (containers and
    endpoints); ``auto`` picks ``start`` above the offering's size threshold in the catalog."""
    engine: Literal["auto", "transformers", "vllm"] = "auto"
    """What serves the model in a GPU package (``gpu.required``): ``vllm`` (text generation),
    ``transformers`` (torch; generation, classification, embedding) or ``auto`` (vLLM for
    ``task: text-generation``, transformers otherwise)."""
    framework: Framework
    """Framework the artifact was produced with; decides the loader and the build-time conversion."""
    task: (
        Literal["classification", "regression", "embedding", "text-generation", "vision", "other"]
        | None
    ) = None
    """What the model does; shapes defaults such as batching and the fallback's answer."""
    size: Size | None = None
    """Declared artifact size (``svai bench`` measures it); drives cold-start fetch time."""
    memory: Size | None = None
    """Declared peak memory when serving; drives instance sizing."""
    load_time: Duration | None = None
    """Declared time to load the model in a fresh process (measured by ``svai bench``)."""
    inference_time: Duration | None = None
    """Declared warm time of one prediction (measured by ``svai bench``)."""
    optimize: Optimize | None = None
    """Build-time optimisation (quantisation)."""
    preprocess: EntryPoint | None = None
    """Function run on the validated payload before the model: ``src/pre.py:prepare``."""
    postprocess: EntryPoint | None = None
    """Function run on the model output before the response: ``src/post.py:format``."""
    prompt_templates: list[RelPath] = Field(default_factory=list, max_length=64)
    """Prompt template files; versioned with the model (a change is a new version)."""
    include: list[RelPath] = Field(default_factory=list, max_length=256)
    """Files or folders the hooks read at run time (``data/vocab.json``, ``assets/``): copied
    into the package at the same relative path and versioned with the model."""
    requirements: list[Requirement] = Field(default_factory=list, max_length=128)
    """Python packages the hooks import, pinned (``tokenizers==0.21.1``): installed in the
    package (Lambda zip with ``--vendor-deps``, image, ``svai serve``'s environment) and
    versioned with the model."""
    fallback: Fallback | None = None
    """What answers when the model fails or is too slow."""
    trust: Trust | None = None
    """Explicit trust for pickle-family artifacts."""

    @model_validator(mode="after")
    def _checks(self) -> Model:
        try:
            source = parse_source(self.artifact, self.revision)
        except ValueError as exc:
            raise FieldError("revision", str(exc)) from None
        problem = pin_problem(source, self.sha256, allow_moving=self.allow_moving_revision)
        if problem is not None:
            raise FieldError("artifact", f"{problem[0]}; {problem[1]}")
        pickled = self.artifact.rsplit(".", 1)[-1].lower() in {
            "pkl",
            "pickle",
            "joblib",
            "pt",
            "pth",
        }
        if pickled and not (self.trust and self.trust.pickle):
            raise FieldError(
                "artifact",
                "pickle-family artifacts can run code when loaded; convert to ONNX, or set "
                "`trust: {pickle: true, sha256: <hash>}`",
            )
        return self

    @model_validator(mode="after")
    def _one_pin_per_package(self) -> Model:
        seen: dict[str, str] = {}
        for requirement in self.requirements:
            name = re.sub(r"[-_.]+", "-", requirement.split("==")[0].split("[")[0]).lower()
            if name in seen:
                raise FieldError(
                    "requirements", f"{seen[name]} and {requirement} pin the same package twice"
                )
            seen[name] = requirement
        return self


# ---- api, latency, traffic --------------------------------------------------------------------


class Jwt(_Strict):
    """JWT validation at the API layer."""

    issuer: Annotated[str, Field(pattern=r"^https://\S{1,200}$")]
    """Issuer URL (``https://...``)."""
    audience: Annotated[str, Field(min_length=1, max_length=200)]
    """Expected audience claim."""


class Api(_Strict):
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


class Latency(_Strict):
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


class Batch(_Strict):
    """Batch arrivals: many requests at once, a few times a day."""

    items: Annotated[int, Field(ge=1, le=100_000_000)]
    """Requests in one batch."""
    per_day: Annotated[int, Field(ge=1, le=1440)] = 1
    """Batches per day."""
    window: Duration = "1h"
    """How soon a batch must be finished."""


class Bursts(_Strict):
    """On/off bursts of random length (``pattern: bursty``).

    ``peak_rps`` during a burst, ``baseline_rps`` between bursts; both lengths are exponential
    with these means.
    """

    mean_on: Duration
    """Mean length of a burst."""
    mean_off: Duration
    """Mean gap between two bursts."""


class Tokens(_Strict):
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


class Traffic(_Strict):
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


class Gpu(_Strict):
    """GPU needs."""

    required: bool = False
    """The model needs a GPU to meet its targets (or to run at all)."""
    type: Literal["any", "t4", "l4", "a10g", "a100", "h100"] = "any"
    """GPU model; ``any`` lets the recommender choose per cloud."""
    count: Annotated[int, Field(ge=1, le=8)] = 1
    """GPUs per instance."""
    memory: Size | None = None
    """GPU memory the model needs; filters out smaller GPUs."""


# ---- operations -------------------------------------------------------------------------------

CacheKeyPart = Annotated[
    str, Field(pattern=r"^(tenant|model_version|payload|header:[A-Za-z0-9-]{1,64})$")
]


class Cache(_Strict):
    """Result cache in front of the model."""

    enabled: bool = True
    """Cache predictions."""
    ttl: Duration = "1h"
    """How long a cached prediction stays valid."""
    key: list[CacheKeyPart] = Field(
        default_factory=lambda: ["tenant", "model_version", "payload"], min_length=1, max_length=8
    )
    """What the cache key is made of: ``tenant``, ``model_version``, ``payload``, ``header:NAME``."""
    max_entries: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000
    """In-process entries per instance (a shared store holds the rest)."""

    @model_validator(mode="after")
    def _key(self) -> Cache:
        if "model_version" not in self.key:
            raise FieldError(
                "key",
                "the cache key must include `model_version`, or a new model serves stale answers",
            )
        duplicates = [k for k, n in Counter(self.key).items() if n > 1]
        if duplicates:
            raise FieldError("key", f"cache key part `{duplicates[0]}` is listed twice")
        return self


class Backoff(_Strict):
    """Retry backoff: exponential between ``base`` and ``max`` with jitter."""

    base: Duration = "200ms"
    """First delay."""
    max: Duration = "20s"
    """Largest delay."""
    jitter: Literal["full", "equal", "none"] = "full"
    """Jitter strategy (full jitter spreads retries best)."""


class Idempotency(_Strict):
    """Client-supplied request ids, so a retry does not redo work."""

    header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "Idempotency-Key"
    """Request header carrying the id."""
    ttl: Duration = "24h"
    """How long a finished request id is remembered."""


class Reliability(_Strict):
    """Retries, dead letters, concurrency guards and timeouts."""

    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Retries of a failed model call or job before giving up."""
    backoff: Backoff = Field(default_factory=Backoff)
    """Delay between retries."""
    dlq: bool = True
    """Send jobs that keep failing to a dead-letter queue (async)."""
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = 5
    """Deliveries of one job before it goes to the dead-letter queue."""
    max_concurrency: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """Cap on concurrent requests across all instances (default: sized from peak traffic)."""
    job_timeout: Duration | None = None
    """Longest time one async job may run (default: ``api.timeout``)."""
    idempotency: Idempotency = Field(default_factory=Idempotency)
    """Client request ids."""

    @model_validator(mode="after")
    def _backoff(self) -> Reliability:
        if parse_duration(self.backoff.base) > parse_duration(self.backoff.max):
            raise FieldError(("backoff", "base"), "backoff.base must not exceed backoff.max")
        return self


class RollbackOn(_Strict):
    """Live signals that roll a rollout step back."""

    p99: Duration | None = None
    """Roll back when p99 latency of the new version exceeds this."""
    error_rate: Fraction | None = None
    """Roll back when the error rate (0-1) of the new version exceeds this."""
    cold_start_rate: Fraction | None = None
    """Roll back when the cold-start rate (0-1) of the new version exceeds this."""


GateMetric = Literal[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "mae",
    "rmse",
    "cosine",
    "exact_match",
    "scorer",
]


class Gates(_Strict):
    """Offline evaluation evidence required before each rollout step (``svai eval``)."""

    eval_set: RelPath
    """JSON Lines file of ``{"input": <request body>, "expected": <answer>}``, run by ``svai eval``."""
    metric: GateMetric = "accuracy"
    """Quality metric the gate checks: ``accuracy``, ``precision``, ``recall``, ``f1`` (labels;
    macro-averaged unless ``positive`` names the class), ``roc_auc`` (``score`` against
    ``positive``), ``mae``, ``rmse`` (numbers), ``cosine`` (embeddings), ``exact_match``
    (generated text), or ``scorer`` (your function)."""
    min: float | None = None
    """Lowest acceptable metric value (accuracy, precision, recall, f1, roc_auc, cosine, ...)."""
    max: float | None = None
    """Highest acceptable metric value (mae, rmse)."""
    prediction: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Dotted path of the predicted answer in the response body (``decision``,
    ``outputs.label``); default: the whole body. Compared with each line's ``expected``."""
    score: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Dotted path of a numeric score in the response body (``fraud_probability``): needed by
    ``roc_auc``; with ``threshold`` it also makes the predicted label."""
    threshold: float | None = None
    """With ``score``: the predicted label is ``positive`` when the score is at least this."""
    positive: Annotated[str, Field(max_length=200)] | int | None = None
    """The positive class: precision, recall and f1 of this class (instead of the macro
    average), the class ``roc_auc`` ranks, and the label a ``threshold`` gives."""
    scorer: EntryPoint | None = None
    """``file.py:function(predicted, expected) -> float in [0, 1]``, averaged (metric ``scorer``)."""
    min_samples: Annotated[int, Field(ge=1, le=10_000_000)] = 100
    """Fewer eval lines than this hold the release (never a pass), whatever the metric says."""
    p95: Duration | None = None
    """Highest acceptable p95 latency on the eval set."""
    p99: Duration | None = None
    """Highest acceptable p99 latency on the eval set."""
    cost_per_1k_usd: Annotated[float, Field(ge=0)] | None = None
    """Highest acceptable predicted cost per 1,000 predictions."""

    @model_validator(mode="after")
    def _threshold(self) -> Gates:
        if self.min is None and self.max is None:
            raise ValueError("a gate needs a threshold: `min` or `max` for the metric")
        if self.metric == "roc_auc" and self.score is None:
            raise ValueError("metric roc_auc ranks a score: set `score` (its path in the response)")
        if self.metric == "scorer" and self.scorer is None:
            raise ValueError("metric scorer needs `scorer: file.py:function`")
        if self.threshold is not None and self.score is None:
            raise ValueError("`threshold` applies to a `score`: set its path in the response")
        return self


class Rollout(_Strict):
    """How a new version replaces the old one."""

    strategy: Literal["all-at-once", "blue-green", "canary", "shadow"] = "all-at-once"
    """Release strategy."""
    steps: list[Annotated[int, Field(ge=1, le=100)]] | None = None
    """Canary traffic percentages, increasing and ending at 100 (``[10, 50, 100]``)."""
    interval: Duration = "10m"
    """Time each step is observed before the next."""
    rollback_on: RollbackOn = Field(default_factory=RollbackOn)
    """Live signals that roll back automatically."""
    gates: Gates | None = None
    """Offline evaluation evidence before each step."""

    @model_validator(mode="after")
    def _steps(self) -> Rollout:
        if self.strategy == "canary":
            steps = self.steps or []
            if not steps:
                raise FieldError("strategy", "`strategy: canary` needs `steps`, e.g. [10, 50, 100]")
            if any(b <= a for a, b in itertools.pairwise(steps)) or steps[-1] != 100:
                raise FieldError("steps", f"canary steps must increase and end at 100, got {steps}")
        elif self.steps is not None:
            raise FieldError(
                "steps", f"`steps` only applies to `strategy: canary`, not {self.strategy}"
            )
        return self


_SECRET_NAME = r"[A-Za-z0-9/_+=.@:\-]{1,256}"
_KNOWN_SECRET_PREFIXES = (
    "sk-",
    "sk_live_",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "xoxb-",
    "xoxp-",
    "AIza",
    "hf_",
)


def _looks_like_secret_value(text: str) -> bool:
    if text.startswith(_KNOWN_SECRET_PREFIXES) or text.startswith("-----BEGIN"):
        return True
    if len(text) < 24 or "/" in text or ":" in text:
        return False
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy > 4.2


def _check_secret_ref(value: object) -> object:
    if isinstance(value, str) and _looks_like_secret_value(value):
        raise SecretValueError(
            "this looks like a secret value; put the value in the cloud's secret manager and "
            "write its name or ARN here"
        )
    return value


SecretRef = Annotated[
    str,
    Field(pattern=rf"^{_SECRET_NAME}$"),
    BeforeValidator(_check_secret_ref),
]


class SecretRefs(_Strict):
    """Where one secret lives in each cloud's secret manager; never the value itself."""

    aws: SecretRef | None = None
    """Secrets Manager name or ARN."""
    gcp: SecretRef | None = None
    """Secret Manager secret id (``projects/P/secrets/NAME`` or ``NAME``)."""
    azure: SecretRef | None = None
    """Key Vault secret (``VAULT/NAME``)."""


class Network(_Strict):
    """Network placement."""

    private: bool = False
    """Serve only inside a private network (VPC / VNet)."""
    egress: Literal["all", "private-only", "none"] = "all"
    """Outbound traffic the runtime may make."""


class EncryptionKeys(_Strict):
    """Customer-managed encryption keys per cloud (omit for provider-managed keys)."""

    aws: (
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/\S+$")]
        | None
    ) = None
    """KMS key ARN."""
    gcp: (
        Annotated[
            str, Field(pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
        ]
        | None
    ) = None
    """Cloud KMS key id."""
    azure: (
        Annotated[str, Field(pattern=r"^https://[a-z0-9-]+\.vault\.azure\.net/keys/\S+$")] | None
    ) = None
    """Key Vault key URL."""


class Security(_Strict):
    """Secrets, network and encryption."""

    secrets: dict[Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")], SecretRefs] = Field(
        default_factory=dict,
        max_length=64,
        # pydantic publishes the key pattern as patternProperties, which leaves other keys open;
        # closing them makes jsonschema refuse `openai-key:` just as svai does.
        json_schema_extra={"additionalProperties": False},
    )
    """Environment variable name -> where its value lives in each cloud's secret manager."""
    network: Network = Field(default_factory=Network)
    """Network placement and egress (default: public endpoint, open egress)."""
    encryption_key: EncryptionKeys | None = None
    """Customer-managed keys; provider-managed encryption is always on."""


class Alarms(_Strict):
    """Alarm thresholds (defaults come from the latency targets)."""

    p95: Duration | None = None
    """Alarm when p95 latency exceeds this (default: the p95 target)."""
    p99: Duration | None = None
    """Alarm when p99 latency exceeds this (default: the p99 target)."""
    error_rate: Fraction = 0.01
    """Alarm when the error rate exceeds this fraction."""
    dlq_depth: Annotated[int, Field(ge=1)] = 1
    """Alarm when the dead-letter queue holds this many messages."""
    queue_age: Duration = "5m"
    """Alarm when the oldest queued job is older than this."""
    cold_start_rate: Fraction | None = None
    """Alarm when the cold-start rate exceeds this fraction."""


_FEATURE_PATH = r"^[A-Za-z0-9_\-]{1,64}(\.([A-Za-z0-9_\-]{1,64}|\*)){0,7}$"
FeaturePath = Annotated[str, Field(pattern=_FEATURE_PATH)]
"""A dotted path into a request body (``transaction.amount``); ``*`` stands for every element of
a list (``inputs.*.3``: column 3 of every row), a number for one element."""


class DriftThreshold(_Strict):
    """When a feature's live distribution counts as drifted from the baseline."""

    psi: Annotated[float, Field(gt=0, le=10)] = 0.2
    """Population stability index over the baseline's bins (0.1 small, 0.2 large, by convention)."""
    ks: Annotated[float, Field(gt=0, le=1)] = 0.1
    """Kolmogorov-Smirnov distance: the largest gap between the two cumulative distributions."""


class FeatureThreshold(_Strict):
    """One feature's own thresholds; an unset one is the section's ``threshold``."""

    psi: Annotated[float, Field(gt=0, le=10)] | None = None
    """This feature's PSI threshold."""
    ks: Annotated[float, Field(gt=0, le=1)] | None = None
    """This feature's KS threshold."""


class Drift(_Strict):
    """Input/output drift monitoring: live summaries compared with a baseline (``svai drift``)."""

    enabled: bool = False
    """Summarise a sample of inputs and outputs per model version for drift analysis."""
    sample_rate: Fraction = 0.01
    """Fraction of requests sampled."""
    baseline: RelPath | None = None
    """JSON Lines reference sample: one request body per line, or eval lines ``{"input": <body>,
    "output": <outputs>}``; default: ``rollout.gates.eval_set``."""
    features: list[FeaturePath] = Field(default_factory=list, max_length=64)
    """Request fields compared with the baseline, as dotted paths into the body; numbers get the
    baseline's decile bins, strings its most common values."""
    prediction: Annotated[str, Field(pattern=_FEATURE_PATH)] | None = None
    """Dotted path of the prediction in the answer's ``outputs`` (``fraud_probability``): its
    distribution is binned, summarised and compared like a feature when the baseline's lines
    carry ``output`` (ignored otherwise)."""
    threshold: DriftThreshold = Field(default_factory=DriftThreshold)
    """Drift thresholds of every feature; the drift alarm and promote gate fire above them."""
    per_feature: dict[FeaturePath, FeatureThreshold] = Field(default_factory=dict, max_length=64)
    """Thresholds of single features, by path (each one of ``features``)."""
    min_samples: Annotated[int, Field(ge=10, le=1_000_000)] = 100
    """Sampled requests a live window holds before the runtime judges drift."""

    @model_validator(mode="after")
    def _features(self) -> Drift:
        repeated = sorted(f for f, n in Counter(self.features).items() if n > 1)
        if repeated:
            raise FieldError("features", f"{', '.join(repeated)} listed more than once")
        for name in self.per_feature:
            if name not in self.features:
                raise FieldError(
                    ("per_feature", name), f"{quote(name)} is not one of `features`; add it there"
                )
        return self


class Observability(_Strict):
    """Alarms, budgets, logs."""

    alarms: Alarms = Field(default_factory=Alarms)
    """Alarm thresholds."""
    tracing: Literal["none", "otel"] = "none"
    """``otel``: container targets export a span per request and request metrics over OTLP."""
    budget_usd_month: Annotated[float, Field(gt=0, le=10_000_000)] | None = None
    """Monthly budget per target; alerts at 80% forecast and 100% actual."""
    alert_email: Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] | None = None
    """Where budget and alarm notifications go."""
    log_retention: Duration = "30d"
    """How long logs are kept."""
    drift: Drift = Field(default_factory=Drift)
    """Drift and quality monitoring."""


class Tenancy(_Strict):
    """Multi-tenant serving."""

    enabled: bool = False
    """Requests carry a tenant id; caches and limits are per tenant."""
    header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "X-Tenant-Id"
    """Header carrying the tenant id."""
    rate_limit_rps: Annotated[float, Field(gt=0)] | None = None
    """Per-tenant request rate limit."""


# ---- targets ----------------------------------------------------------------------------------


class Overrides(_Strict):
    """Per-target choices that replace the recommender's."""

    offering: Annotated[str, Field(pattern=r"^[a-z0-9_.\-]{3,64}$")] | None = None
    """Catalog offering id to use (``svai recommend --format json`` lists them)."""
    memory: Size | None = None
    """Instance memory."""
    vcpu: Annotated[float, Field(gt=0, le=96)] | None = None
    """vCPUs per instance."""
    min_instances: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Warm pool: instances kept ready (provisioned concurrency, min instances, always-ready)."""
    max_instances: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """Upper bound on instances."""
    concurrency: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Concurrent requests per instance."""

    @model_validator(mode="after")
    def _bounds(self) -> Overrides:
        if (
            self.min_instances is not None
            and self.max_instances is not None
            and self.min_instances > self.max_instances
        ):
            raise FieldError("min_instances", "min_instances must not exceed max_instances")
        return self


_REGION_PATTERNS: dict[str, tuple[str, str]] = {
    "aws": (r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", "us-east-1"),
    "gcp": (r"^[a-z]+-[a-z]+[0-9]{1,2}$", "us-central1"),
    "azure": (r"^[a-z]+[0-9]?$", "eastus"),
}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


_ACCOUNT_FIELDS = {"aws": "account", "gcp": "project", "azure": "subscription"}


class Target(_Strict):
    """One place to deploy: a cloud, a region, and optionally a forced runtime kind."""

    # The per-cloud region spelling is published too, so editors and jsonschema agree with svai.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"cloud": {"const": cloud}}, "required": ["cloud"]},
                    "then": {"properties": {"region": {"pattern": pattern}}},
                }
                for cloud, (pattern, _) in _REGION_PATTERNS.items()
            ]
        }
    )

    cloud: Cloud
    """Cloud provider."""
    region: Annotated[str, Field(min_length=2, max_length=40)]
    """Region, in the provider's own spelling (``us-east-1``, ``us-central1``, ``eastus``)."""
    account: Annotated[str, Field(pattern=r"^[0-9]{12}$")] | None = None
    """AWS account id (12 digits)."""
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] | None = None
    """GCP project id."""
    subscription: (
        Annotated[
            str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        ]
        | None
    ) = None
    """Azure subscription id."""
    runtime: RuntimeKind = "auto"
    """Runtime kind: ``auto`` (recommended), ``faas``, ``container`` or ``endpoint``."""
    overrides: Overrides = Field(default_factory=Overrides)
    """Choices that replace the recommender's."""

    @field_validator("region")
    @classmethod
    def _region(cls, region: str, info: ValidationInfo) -> str:
        cloud = info.data.get("cloud")
        if cloud in _REGION_PATTERNS:
            pattern, example = _REGION_PATTERNS[cloud]
            if not re.fullmatch(pattern, region):
                raise ValueError(
                    f"{quote(region)} is not {_article(cloud)} {cloud} region name "
                    f"(for example `{example}`)"
                )
        return region

    @model_validator(mode="after")
    def _cloud_fields(self) -> Target:
        for cloud, field in _ACCOUNT_FIELDS.items():
            if cloud != self.cloud and getattr(self, field) is not None:
                raise FieldError(
                    field,
                    f"`{field}` belongs to {cloud} targets; "
                    f"{_article(self.cloud)} {self.cloud} target uses "
                    f"`{_ACCOUNT_FIELDS[self.cloud]}`",
                )
        return self


class Spec(_Strict):
    """A ``svai.yaml``: one model, its targets for latency and traffic, and where to deploy it."""

    version: Literal[1]
    """Spec format version; must be 1."""

    @field_validator("version", mode="before")
    @classmethod
    def _not_bool(cls, value: object) -> object:
        # Literal[1] compares with ==, and True == 1 in Python; YAML `version: yes` is not 1.
        if isinstance(value, bool):
            raise ValueError("expected the integer 1, got a boolean")
        return value

    name: Name
    """Deployment name: lowercase letters, digits and dashes, 2-40 characters; used in resource names."""
    description: Annotated[str, Field(max_length=500)] | None = None
    """Free text for people."""
    model: Model
    """The model and how to prepare it."""
    api: Api = Field(default_factory=Api)
    """How callers reach it."""
    latency: Latency = Field(default_factory=Latency)
    """Latency targets."""
    traffic: Traffic
    """Expected traffic."""
    gpu: Gpu = Field(default_factory=Gpu)
    """GPU needs of the model (default: none)."""
    cache: Cache = Field(default_factory=Cache)
    """Result cache."""
    reliability: Reliability = Field(default_factory=Reliability)
    """Retries, dead letters, guards, timeouts."""
    rollout: Rollout = Field(default_factory=Rollout)
    """Release strategy."""
    security: Security = Field(default_factory=Security)
    """Secrets, network, encryption."""
    observability: Observability = Field(default_factory=Observability)
    """Alarms, budget, logs."""
    tenancy: Tenancy = Field(default_factory=Tenancy)
    """Multi-tenant serving (default: single tenant)."""
    targets: list[Target] = Field(min_length=1, max_length=16)
    """Where to deploy."""

    @model_validator(mode="after")
    def _token_targets(self) -> Spec:
        # Token targets and token traffic describe text generation; elsewhere they mean nothing.
        if self.model.task == "text-generation":
            return self
        written = [
            (("latency", "ttft"), self.latency.ttft),
            (("latency", "tpot"), self.latency.tpot),
            (("traffic", "tokens"), self.traffic.tokens),
        ]
        for where, value in written:
            if value is not None:
                raise FieldError(
                    where,
                    f"{'.'.join(where)} is for `model.task: text-generation` "
                    f"(task here: {self.model.task or 'not set'})",
                )
        return self
