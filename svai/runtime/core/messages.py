"""What crosses the runtime core's boundary: requests, responses, predictions, and their JSON.

``Request`` and ``Response`` are transport-neutral (an HTTP server, a Lambda event adapter and a
queue worker all speak them); ``Prediction`` is what ``Service.predict`` returns. The helpers
here parse and serialise payloads (rejecting ``NaN``/``Infinity``, which JSON does not have,
and numbers such as ``1e400`` that no double holds),
compute the canonical form used for hashing, and translate Vertex AI's
``{"instances": [...]}`` / ``{"predictions": [...]}`` envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from svai.runtime.core.errors import InvalidInputError, MalformedPayloadError, ModelError

_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_INF = float("inf")

SAFE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
"""Request ids and idempotency keys safe to echo in a header and to key a record by: the server
echoes only such ids, and the jobs front accepts only ids the queue worker will accept."""

_orjson: Any = None  # set by ``use_orjson``; until then the standard library does the work

__all__ = [
    "SAFE_ID",
    "Prediction",
    "Request",
    "Response",
    "canonical_json",
    "decode_prediction",
    "dump_json",
    "encode_prediction",
    "loads_strict",
    "parse_json",
    "resolve_protocol",
    "use_orjson",
    "vertex_payload",
    "vertex_predictions",
]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a transport received it.

    Attributes:
        body: the raw body bytes.
        content_type: the ``Content-Type`` header value, or ``None``.
        headers: other headers, names in lower case (request id, tenant, idempotency key).
        protocol: ``"auto"`` (the default, what every svai transport uses): Vertex when the body
            has ``instances`` and no ``inputs``, else svai; or forced: ``"svai"``
            (``{"inputs": ...}``), ``"vertex"`` (``{"instances": [...]}``).
    """

    body: bytes
    content_type: str | None = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    protocol: str = "auto"


@dataclass(frozen=True, slots=True)
class Response:
    """What a transport sends back: a status, extra headers, and a JSON body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Prediction:
    """The result of ``Service.predict``.

    Attributes:
        outputs_json: the outputs (after the post-processing hook) as compact JSON bytes.
        model_version: version id of the model that answered.
        input_hash: sha256 of the canonical JSON payload.
        cached: served from the cache.
        fallback: produced by the fallback (rules or smaller model), not the main model.
        replayed: returned from the idempotency table for a repeated key.
        model_ms: time spent in hooks and model (0 when cached or replayed).
    """

    outputs_json: bytes
    model_version: str
    input_hash: str
    cached: bool = False
    fallback: bool = False
    replayed: bool = False
    model_ms: float = 0.0

    @property
    def outputs(self) -> Any:
        """The outputs as Python objects."""
        return json.loads(self.outputs_json)


def use_orjson() -> bool:
    """Parse and hash with orjson from now on, when it is installed (every artifact pins it).

    orjson parses and hashes request bodies ~5x faster, but importing it costs a few
    milliseconds, so ``Service.load`` calls this on its loading thread rather than at import:
    the server's port opens without it.

    Returns:
        Whether orjson is in use.
    """
    global _orjson
    if _orjson is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - the standard library does the same, slower
            return False
        _orjson = orjson
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):  # 1e400: valid JSON grammar, but no finite double holds it
        raise ValueError(f"number {text[:40]} is out of range for a double")
    return value


def loads_strict(body: bytes | str) -> Any:
    """The standard library's JSON parser, refusing NaN, Infinity and numbers that overflow.

    Every JSON document the runtime reads from a client (request bodies, queued jobs, push
    envelopes) goes through this or :func:`parse_json`, so a non-finite number never reaches a
    hook or a model.

    Raises:
        ValueError: not strict JSON (``json.JSONDecodeError`` is a ``ValueError``).
        RecursionError: nested too deeply.
    """
    return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; raise ``MalformedPayloadError`` (400) if it is not strict JSON."""
    # orjson reads integers beyond 64 bits as floats (silently lossy): bodies with a run of 19
    # digits go to the standard library, which keeps them exact.
    if _orjson is not None and _LONG_DIGITS.search(body) is None:
        try:
            return _orjson.loads(body)  # strict: NaN, Infinity and 1e400 are refused too
        except _orjson.JSONDecodeError:
            pass  # the standard library decides, and words the error the same way everywhere
    try:
        return loads_strict(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedPayloadError(f"body is not valid JSON: {exc}") from None


def canonical_json(payload: Any) -> bytes:
    """Serialise with sorted keys and no spaces: equal payloads give equal bytes (and hashes).

    The bytes are orjson's where it is installed (every artifact pins it) and the standard
    library's otherwise; they differ only in float spelling (``1e-07`` vs ``1e-7``), and the
    cache and idempotency keys built from them are only compared within one artifact.
    """
    if _orjson is not None:
        try:
            return cast(bytes, _orjson.dumps(payload, option=_orjson.OPT_SORT_KEYS))
        except TypeError:
            pass  # integers beyond 64 bits: the standard library spells them
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def dump_json(value: Any) -> bytes:
    """Serialise outputs compactly; NaN or non-JSON types are a ``ModelError``."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model outputs are not JSON-serialisable: {exc}") from None


def resolve_protocol(declared: str, payload: Any) -> str:
    """Resolve ``"auto"``: Vertex when the body has ``instances`` and no ``inputs``."""
    if declared != "auto":
        return declared
    if type(payload) is dict and "instances" in payload and "inputs" not in payload:
        return "vertex"
    return "svai"


def vertex_payload(payload: Any) -> Any:
    """Turn ``{"instances": [...]}`` into ``{"inputs": [...]}`` (422 when malformed)."""
    if type(payload) is not dict or type(payload.get("instances")) is not list:
        raise InvalidInputError("$.instances: expected a list of instances", path="$.instances")
    return {"inputs": payload["instances"]}


def vertex_predictions(outputs: Any) -> list[Any]:
    """Turn column outputs ``{"label": [...], ...}`` into one prediction object per instance."""
    if isinstance(outputs, dict) and outputs:
        columns = list(outputs.values())
        if all(isinstance(c, list) for c in columns) and len({len(c) for c in columns}) == 1:
            names = list(outputs)
            return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    return outputs if isinstance(outputs, list) else [outputs]


def encode_prediction(pred: Prediction) -> bytes:
    """Serialise a prediction for a shared store (idempotent replay across instances)."""
    meta = json.dumps({"v": pred.model_version, "h": pred.input_hash}).encode()
    return meta + b"\n" + pred.outputs_json


def decode_prediction(raw: bytes) -> Prediction:
    """Inverse of ``encode_prediction``."""
    meta_raw, _, outputs = raw.partition(b"\n")
    meta = json.loads(meta_raw)
    return Prediction(outputs, meta["v"], meta["h"])
