"""The runtime configuration: ``svai_runtime.json``, written by ``svai build`` beside the model.

Spec values reach the runtime only as data in this file, never pasted into source. Every section
and every key is optional except ``model.path`` and ``model.version``; unknown keys are an error
(a typo must not be silently ignored). Relative paths are resolved against the directory holding
the file (the artifact directory). The full shape, with defaults::

    {
      "schema_version": 1,
      "model": {
        "path": "model.onnx",              # .onnx, or a pickle-family file when trusted below
        "version": "sha256:...",           # immutable model version id, carried everywhere
        "framework": "onnx",               # onnx | onnx-text-encoder | pickle | transformers
        "sha256": null,                    # optional pin, checked before loading (required for pickle)
        "trust_pickle": false,             # pickle/joblib loads only when true AND sha256 matches
        "tokenizer": null,                 # tokenizer.json (onnx-text-encoder and text tasks)
        "task": "raw",                     # the I/O contract, see ``tasks.py``; raw: graph outputs
                                           # (transformers: text-generation | text-classification
                                           # | feature-extraction, ``path`` a save_pretrained folder)
        "labels": [],                      # class names by index (classification tasks)
        "activation": "softmax",           # softmax | sigmoid: logits -> scores (text, image)
        "processor": null,                 # image-classification: size, mean, std, rescale ...
        "max_length": 128, "pooling": "mean", "normalize": true,   # text encoders only
        "intra_op_threads": 1, "inter_op_threads": 1, "graph_optimization": "all",
        "warmup": true
      },
      "engine": {                          # framework "transformers" only (svai.runtime.engines)
        "name": "transformers",            # transformers (torch, in process) | vllm (vllm serve)
        "device": "auto",                  # auto (cuda when present) | cpu | cuda
        "dtype": "auto",                   # auto | bfloat16 | float16 | float32
        "max_model_len": null,             # prompt + output tokens (null: the model's own)
        "gpu_memory_utilization": 0.9, "tensor_parallel_size": 1,   # vllm only
        "vllm_args": []                    # extra ``vllm serve`` arguments, passed as given
      },
      "generation": {                      # task text-generation (OpenAI routes, docs/io.md)
        "max_prompt_tokens": null,         # longer prompts get a 400 before any work
        "max_tokens": 512,                 # cap on a request's max_tokens (over it: 400)
        "default_max_tokens": 128,         # when the request names none
        "chat_template": null,             # a Jinja chat template file (else the tokenizer's)
        "prompt_templates": [],            # files with "{prompt}": used without a chat template
        "streaming": true                  # false: the path buffers; stream: true gets a 400
      },
      "api": {
        "max_payload_bytes": 262144, "content_types": ["application/json"],
        "input_schema": null,              # inline JSON Schema (subset, see ``schema.py``)
        "timeout_s": 10.0,
        "request_id_header": "x-request-id", "tenant_header": "x-svai-tenant"
      },
      "concurrency": {"max_concurrency": 0, "queue_size": -1, "retry_after_s": 1},
      "rate_limit": {"rps": null, "burst": 0, "tenant_rps": null, "tenant_burst": 0},  # per process
      "batching": {"enabled": false, "max_batch": 8, "max_wait_ms": 2.0},
      "cache": {"ttl_s": 0, "max_entries": 1024, "store": null},  # see cache.open_store
      "idempotency": {"enabled": true, "header": "idempotency-key", "ttl_s": 86400, "max_entries": 10000},
      "fallback": {"rules": null, "model": null, "after_s": null},  # hook / small.onnx / s
      "hooks": {"preprocess": null, "postprocess": null},  # "module:function" or "file.py:function"
      "observability": {"namespace": "svai", "service": "svai", "log_requests": true,
                        "tracing": "none"},  # "otel": spans and metrics over OTLP (otel.py)
      "drift": {"enabled": false, "sample_rate": 0.01, "interval_s": 60, "min_samples": 100,
                "features": {}, "prediction": null},   # bins from the baseline, see ``drift.py``
      "server": {"host": "0.0.0.0", "port": 0, "drain_timeout_s": 10.0,
                 "max_connections": 1000, "header_timeout_s": 10.0}
    }

``max_concurrency: 0`` means "two workers per CPU core" (``max_batch`` per core with batching);
``queue_size: -1`` means "twice the workers". ``cache.ttl_s: 0`` disables the cache.
``rate_limit``: token buckets (429 + ``Retry-After``) for the whole process and for each tenant
(the ``api.tenant_header`` value); ``null`` turns a limit off, a ``burst`` of 0 means one
second's worth of requests.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svai.runtime.core.cache import is_store_url
from svai.runtime.core.errors import ConfigError

__all__ = [
    "TASKS",
    "ApiConfig",
    "BatchingConfig",
    "CacheConfig",
    "ConcurrencyConfig",
    "DriftConfig",
    "EngineConfig",
    "FallbackConfig",
    "GenerationConfig",
    "HooksConfig",
    "IdempotencyConfig",
    "ModelConfig",
    "ObservabilityConfig",
    "RateLimitConfig",
    "RuntimeConfig",
    "ServerConfig",
    "load_config",
    "parse_config",
    "read_config_file",
]

CONFIG_FILE_NAME = "svai_runtime.json"
_FRAMEWORKS = ("onnx", "onnx-text-encoder", "pickle", "transformers")
TASKS = (
    "raw",
    "classification",
    "regression",
    "text-classification",
    "token-classification",
    "sentence-embedding",
    "image-classification",
    "text-generation",
    "feature-extraction",
)
"""The I/O contracts (``svai.runtime.core.tasks``); ``raw`` answers with the graph's outputs."""
_TEXT_TASKS = ("text-classification", "token-classification", "sentence-embedding")
ENGINE_TASKS = ("text-generation", "text-classification", "feature-extraction")
"""The tasks an engine serves (``model.framework: transformers``)."""
_ENGINES = ("transformers", "vllm")
_DEVICES = ("auto", "cpu", "cuda")
_DTYPES = ("auto", "bfloat16", "float16", "float32")
_ACTIVATIONS = ("softmax", "sigmoid")
_POOLINGS = ("mean", "cls", "none")
_GRAPH_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Which model to load and how."""

    path: str
    version: str
    framework: str = "onnx"
    sha256: str | None = None
    trust_pickle: bool = False
    tokenizer: str | None = None
    task: str = "raw"
    labels: tuple[str | int, ...] = ()
    activation: str = "softmax"
    processor: dict[str, Any] | None = None
    max_length: int = 128
    pooling: str = "mean"
    normalize: bool = True
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    warmup: bool = True


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Which engine serves a ``transformers`` folder, on which device, with which settings."""

    name: str = "transformers"
    device: str = "auto"
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    vllm_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """Limits and prompt formatting of text generation (the OpenAI-compatible routes)."""

    max_prompt_tokens: int | None = None
    max_tokens: int = 512
    default_max_tokens: int = 128
    chat_template: str | None = None
    prompt_templates: tuple[str, ...] = ()
    streaming: bool = True
    """Whether answers reach the caller as a stream on this deployment's path; ``false`` (a
    path that buffers, such as API Gateway -> Lambda -> InvokeEndpoint) makes ``stream: true``
    a 400 ``streaming_unsupported`` instead of an answer that arrives whole, or not at all."""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Early input checks and the request deadline."""

    max_payload_bytes: int = 262_144
    content_types: tuple[str, ...] = ("application/json",)
    input_schema: dict[str, Any] | None = None
    timeout_s: float = 10.0
    request_id_header: str = "x-request-id"
    tenant_header: str = "x-svai-tenant"


@dataclass(frozen=True, slots=True)
class ConcurrencyConfig:
    """Bounded concurrency: workers, the admission queue behind them, and ``Retry-After``."""

    max_concurrency: int = 0
    queue_size: int = -1
    retry_after_s: int = 1


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Requests per second admitted by this process, overall and per tenant (token buckets)."""

    rps: float | None = None
    burst: int = 0
    tenant_rps: float | None = None
    tenant_burst: int = 0


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """Micro-batching; it never waits when no other request is on its way."""

    enabled: bool = False
    max_batch: int = 8
    max_wait_ms: float = 2.0


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Result cache: in-process LRU plus an optional shared store."""

    ttl_s: float = 0.0
    max_entries: int = 1024
    store: str | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyConfig:
    """Client-supplied idempotency keys."""

    enabled: bool = True
    header: str = "idempotency-key"
    ttl_s: float = 86_400.0
    max_entries: int = 10_000


@dataclass(frozen=True, slots=True)
class FallbackConfig:
    """What answers when the main model raises or misses its deadline."""

    rules: str | None = None
    model: str | None = None
    after_s: float | None = None
    """Answer from the fallback when the model has not answered by then (default: only at
    ``api.timeout_s`` or on an error); it must be shorter than ``api.timeout_s`` to matter."""


@dataclass(frozen=True, slots=True)
class HooksConfig:
    """User pre/post-processing functions, loaded from the artifact directory."""

    preprocess: str | None = None
    postprocess: str | None = None


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    """Structured logs and CloudWatch EMF metrics."""

    namespace: str = "svai"
    service: str = "svai"
    log_requests: bool = True
    tracing: str = "none"
    """``otel``: the container server also exports spans and metrics (:mod:`.otel`)."""


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """Per-version input and output summaries (``svai.runtime.core.drift``).

    ``features`` maps each request path to its bins: ``edges`` (numbers) or ``categories``
    (strings), the ``baseline`` count per bin and its ``psi`` / ``ks`` thresholds; ``prediction``
    is the same for one path in the answer's outputs, plus its ``name``.
    """

    enabled: bool = False
    sample_rate: float = 0.01
    interval_s: float = 60.0
    min_samples: int = 100
    features: dict[str, Any] = field(default_factory=dict)
    prediction: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """HTTP server settings (``PORT`` / ``AIP_HTTP_PORT`` override ``port`` when set)."""

    host: str = "0.0.0.0"  # containers must listen on all interfaces
    port: int = 0
    drain_timeout_s: float = 10.0
    max_connections: int = 1000
    """Open connections (one thread each); past it, idle keep-alive ones are closed first and
    new ones wait in the listen backlog."""
    header_timeout_s: float = 10.0
    """Time a client has to send a request's headers (from its first byte); then 408."""


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """The whole runtime configuration (see the module docstring for the file format).

    Attributes:
        base_dir: directory that relative paths are resolved against (the artifact directory).
    """

    model: ModelConfig
    engine: EngineConfig = field(default_factory=EngineConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    idempotency: IdempotencyConfig = field(default_factory=IdempotencyConfig)
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    schema_version: int = 1
    base_dir: str = "."

    def resolve(self, relative: str) -> Path:
        """Return ``relative`` resolved against the artifact directory."""
        return Path(self.base_dir, relative)

    @property
    def workers(self) -> int:
        """Number of worker threads: ``max_concurrency``, or when it is 0, two per core.

        Two per core keeps every core busy with inference (which releases the GIL) while the
        other worker parses or serialises; with batching on, ``max_batch`` per core (at most 64),
        since a batch can only hold requests that workers have already picked up.
        """
        n = self.concurrency.max_concurrency
        if n > 0:
            return n
        cores = max(1, os.cpu_count() or 1)
        if self.batching.enabled:
            return min(64, max(2 * cores, cores * self.batching.max_batch))
        return 2 * cores

    @property
    def queue_size(self) -> int:
        """Admitted requests allowed to wait behind busy workers."""
        q = self.concurrency.queue_size
        return q if q >= 0 else 2 * self.workers


_SECTIONS: dict[str, type[Any]] = {
    "model": ModelConfig,
    "engine": EngineConfig,
    "generation": GenerationConfig,
    "api": ApiConfig,
    "concurrency": ConcurrencyConfig,
    "rate_limit": RateLimitConfig,
    "batching": BatchingConfig,
    "cache": CacheConfig,
    "idempotency": IdempotencyConfig,
    "fallback": FallbackConfig,
    "hooks": HooksConfig,
    "observability": ObservabilityConfig,
    "drift": DriftConfig,
    "server": ServerConfig,
}


def load_config(path: str | os.PathLike[str]) -> RuntimeConfig:
    """Read and validate ``svai_runtime.json``.

    Args:
        path: the config file, or the artifact directory that holds ``svai_runtime.json``.

    Returns:
        The frozen configuration, with ``base_dir`` set to the file's directory.

    Raises:
        ConfigError: the file is missing, not JSON, or does not match the format.
    """
    data, base_dir = read_config_file(path)
    return parse_config(data, base_dir=base_dir)


def read_config_file(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """Read ``svai_runtime.json`` as JSON, unvalidated, with the directory paths resolve against.

    Raises:
        ConfigError: the file is missing or not JSON.
    """
    p = Path(path)
    if p.is_dir():
        p = p / CONFIG_FILE_NAME
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read runtime config {p}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"runtime config {p} is not valid JSON: {exc}") from None
    return data, str(p.resolve().parent)


def parse_config(data: Any, *, base_dir: str = ".") -> RuntimeConfig:
    """Validate an already-parsed config mapping.

    Args:
        data: the decoded JSON object.
        base_dir: directory relative paths are resolved against.

    Returns:
        The frozen configuration.

    Raises:
        ConfigError: unknown keys, wrong types or out-of-range values, naming the dotted key.
    """
    if not isinstance(data, dict):
        raise ConfigError("runtime config must be a JSON object")
    unknown = sorted(set(data) - set(_SECTIONS) - {"schema_version"})
    if unknown:
        raise ConfigError(f"unknown key(s) in runtime config: {', '.join(unknown)}")
    version = data.get("schema_version", 1)
    if version != 1:
        raise ConfigError(f"schema_version: unsupported version {version!r} (expected 1)")
    if "model" not in data:
        raise ConfigError("model: required section is missing")
    sections = {name: _build(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}
    cfg = RuntimeConfig(**sections, schema_version=1, base_dir=base_dir)
    _check_values(cfg)
    return cfg


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _coerce(data[name], str(f.type), f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name}: required key is missing")
    return cls(**values)


def _coerce(value: Any, annotation: str, where: str) -> Any:
    optional = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: must not be null")
    ok: bool
    if base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base == "str":
        ok = isinstance(value, str)
    elif base == "tuple[str, ...]":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif base == "tuple[str | int, ...]":
        ok = isinstance(value, list) and all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value
        )
        value = tuple(value) if ok else value
    elif base == "dict[str, Any]":
        ok = isinstance(value, dict)
    else:  # pragma: no cover - a new field type needs a branch here
        raise ConfigError(f"{where}: unsupported field type {annotation}")
    if not ok:
        raise ConfigError(f"{where}: expected {annotation}, got {type(value).__name__}")
    return value


def _check_values(cfg: RuntimeConfig) -> None:
    m = cfg.model
    engine_served = m.framework == "transformers"  # the folder carries tokenizer and labels
    checks: list[tuple[bool, str]] = [
        (m.framework in _FRAMEWORKS, f"model.framework: expected one of {_FRAMEWORKS}"),
        (m.pooling in _POOLINGS, f"model.pooling: expected one of {_POOLINGS}"),
        (
            m.graph_optimization in _GRAPH_LEVELS,
            f"model.graph_optimization: expected one of {_GRAPH_LEVELS}",
        ),
        (bool(m.path), "model.path: must not be empty"),
        (
            0 < len(m.version) <= 128 and all(33 <= ord(c) < 127 for c in m.version),
            "model.version: must be 1-128 printable ASCII characters without spaces "
            "(it is sent in a response header)",
        ),
        (m.task in TASKS, f"model.task: expected one of {TASKS}"),
        (m.activation in _ACTIVATIONS, f"model.activation: expected one of {_ACTIVATIONS}"),
        (
            m.task not in _TEXT_TASKS or m.tokenizer is not None or engine_served,
            f"model.tokenizer: required for task {m.task}",
        ),
        (
            not engine_served or m.task in ENGINE_TASKS,
            f"model.task: framework transformers serves one of {ENGINE_TASKS}",
        ),
        (
            m.task not in ("text-generation", "feature-extraction") or engine_served,
            f"model.framework: task {m.task} needs framework transformers",
        ),
        (cfg.engine.name in _ENGINES, f"engine.name: expected one of {_ENGINES}"),
        (
            cfg.observability.tracing in ("none", "otel"),
            "observability.tracing: expected one of ('none', 'otel')",
        ),
        (cfg.engine.device in _DEVICES, f"engine.device: expected one of {_DEVICES}"),
        (cfg.engine.dtype in _DTYPES, f"engine.dtype: expected one of {_DTYPES}"),
        (
            cfg.engine.max_model_len is None or cfg.engine.max_model_len > 0,
            "engine.max_model_len: must be > 0 or null",
        ),
        (
            0 < cfg.engine.gpu_memory_utilization <= 1,
            "engine.gpu_memory_utilization: must be in (0, 1]",
        ),
        (cfg.engine.tensor_parallel_size >= 1, "engine.tensor_parallel_size: must be >= 1"),
        (
            cfg.engine.name != "vllm" or m.task == "text-generation",
            "engine.name: vllm serves task text-generation only",
        ),
        (
            cfg.generation.max_prompt_tokens is None or cfg.generation.max_prompt_tokens > 0,
            "generation.max_prompt_tokens: must be > 0 or null",
        ),
        (cfg.generation.max_tokens >= 1, "generation.max_tokens: must be >= 1"),
        (
            1 <= cfg.generation.default_max_tokens <= cfg.generation.max_tokens,
            "generation.default_max_tokens: must be in 1..generation.max_tokens",
        ),
        (
            m.task != "image-classification" or m.processor is not None,
            "model.processor: required for task image-classification",
        ),
        (
            m.task not in ("text-classification", "token-classification", "image-classification")
            or bool(m.labels)
            or engine_served,
            f"model.labels: required for task {m.task}",
        ),
        (m.max_length > 0, "model.max_length: must be > 0"),
        (m.intra_op_threads >= 0, "model.intra_op_threads: must be >= 0"),
        (m.inter_op_threads >= 0, "model.inter_op_threads: must be >= 0"),
        (
            m.framework != "onnx-text-encoder" or m.tokenizer is not None,
            "model.tokenizer: required for framework onnx-text-encoder",
        ),
        (cfg.api.max_payload_bytes > 0, "api.max_payload_bytes: must be > 0"),
        (cfg.api.timeout_s > 0, "api.timeout_s: must be > 0"),
        (bool(cfg.api.content_types), "api.content_types: must not be empty"),
        (cfg.concurrency.max_concurrency >= 0, "concurrency.max_concurrency: must be >= 0"),
        (cfg.concurrency.queue_size >= -1, "concurrency.queue_size: must be >= -1"),
        (cfg.concurrency.retry_after_s >= 0, "concurrency.retry_after_s: must be >= 0"),
        (cfg.batching.max_batch >= 1, "batching.max_batch: must be >= 1"),
        (cfg.batching.max_wait_ms >= 0, "batching.max_wait_ms: must be >= 0"),
        (cfg.cache.ttl_s >= 0, "cache.ttl_s: must be >= 0"),
        (cfg.cache.max_entries >= 1, "cache.max_entries: must be >= 1"),
        (cfg.idempotency.ttl_s > 0, "idempotency.ttl_s: must be > 0"),
        (cfg.idempotency.max_entries >= 1, "idempotency.max_entries: must be >= 1"),
        (cfg.server.drain_timeout_s >= 0, "server.drain_timeout_s: must be >= 0"),
        (cfg.server.max_connections >= 1, "server.max_connections: must be >= 1"),
        (cfg.server.header_timeout_s > 0, "server.header_timeout_s: must be > 0"),
        (
            cfg.rate_limit.rps is None or cfg.rate_limit.rps > 0,
            "rate_limit.rps: must be > 0 or null",
        ),
        (
            cfg.rate_limit.tenant_rps is None or cfg.rate_limit.tenant_rps > 0,
            "rate_limit.tenant_rps: must be > 0 or null",
        ),
        (cfg.rate_limit.burst >= 0, "rate_limit.burst: must be >= 0"),
        (cfg.rate_limit.tenant_burst >= 0, "rate_limit.tenant_burst: must be >= 0"),
        (
            cfg.fallback.after_s is None or cfg.fallback.after_s > 0,
            "fallback.after_s: must be > 0",
        ),
        (
            cfg.fallback.after_s is None or bool(cfg.fallback.rules or cfg.fallback.model),
            "fallback.after_s: needs fallback.rules or fallback.model to answer",
        ),
        (0 <= cfg.server.port < 65536, "server.port: must be in 0..65535"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if cfg.cache.store is not None and not is_store_url(cfg.cache.store):
        raise ConfigError(
            "cache.store: expected null or a store URL ('sqlite:///path', 'redis://host:port', "
            "'dynamodb://TABLE', 'firestore://', 'cosmos://')"
        )
    for key, spec in (
        ("hooks.preprocess", cfg.hooks.preprocess),
        ("hooks.postprocess", cfg.hooks.postprocess),
        ("fallback.rules", cfg.fallback.rules),
    ):
        if spec is not None and spec.count(":") != 1:
            raise ConfigError(f"{key}: expected 'module:function', got {spec!r}")
