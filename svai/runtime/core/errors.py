"""Errors raised by the runtime core, each carrying the HTTP status it maps to.

The tree is shallow on purpose, so a transport (HTTP server, Lambda handler, queue worker) can map
any of them to a status code and a JSON body without knowing the subclasses::

    RuntimeCoreError              500  a bug or an unexpected failure
    ├── ConfigError               -    the runtime config file is invalid (raised at start-up only)
    ├── ModelRefusedError         -    the model file is refused (pickle without a trusted hash, ...)
    ├── RequestError              4xx  the client sent something wrong
    │   ├── PayloadTooLargeError  413
    │   ├── UnsupportedMediaError 415
    │   ├── MalformedPayloadError 400  not JSON, NaN, ...
    │   ├── InvalidInputError     422  schema violation or wrong tensor shape (``path`` names the field)
    │   │   └── InvalidInput      422  raised by a user's pre-processing hook: ``InvalidInput(path, message)``
    │   ├── IdempotencyConflictError 422  same key, different payload
    │   └── RateLimitedError      429  over the rate limit, overall or per tenant (with ``Retry-After``)
    ├── NotReadyError             503  model not loaded yet, or draining
    ├── OverloadedError           503  admission queue full (comes with ``Retry-After``)
    ├── DeadlineError             504  the request took longer than the configured timeout
    └── ModelError                500  the model (or a hook) failed and no fallback answered
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeadlineError",
    "IdempotencyConflictError",
    "InvalidInput",
    "InvalidInputError",
    "MalformedPayloadError",
    "ModelError",
    "ModelRefusedError",
    "NotReadyError",
    "OverloadedError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestError",
    "RuntimeCoreError",
    "UnsupportedMediaError",
]


class RuntimeCoreError(Exception):
    """Base class of every error the runtime core raises on purpose.

    Attributes:
        status: HTTP status code a transport should answer with.
        code: stable machine-readable error code.
        path: JSON path of the offending field (``$.inputs[0]``), or ``None``.
    """

    status = 500
    code = "internal"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class ConfigError(RuntimeCoreError):
    """The runtime configuration is invalid; raised at start-up, never per request."""

    code = "config"


class ModelRefusedError(RuntimeCoreError):
    """The model file may not be loaded (untrusted pickle, hash mismatch, unknown format)."""

    code = "model_refused"


class RequestError(RuntimeCoreError):
    """The client sent something the runtime will not process."""

    status = 400
    code = "bad_request"


class PayloadTooLargeError(RequestError):
    """The body is larger than ``api.max_payload_bytes``."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaError(RequestError):
    """The ``Content-Type`` is not one of ``api.content_types``."""

    status = 415
    code = "unsupported_media_type"


class MalformedPayloadError(RequestError):
    """The body is not valid JSON (or uses NaN/Infinity, which JSON does not have)."""

    status = 400
    code = "malformed_json"


class InvalidInputError(RequestError):
    """The payload is JSON but does not match the input schema or the model's tensor shapes."""

    status = 422
    code = "invalid_input"


class InvalidInput(InvalidInputError):
    """What a pre-processing hook raises to refuse an input: a 422 naming the field.

    A hook ships beside the model and imports it from the runtime it runs in::

        from svai.runtime.core.errors import InvalidInput

        def prepare(payload):
            if payload["amount"] < 0:
                raise InvalidInput("$.amount", "must not be negative")

    Args:
        path: JSON path of the offending field (``$.transaction.amount``).
        message: What is wrong with it, for the client.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", path=path)


class IdempotencyConflictError(RequestError):
    """An idempotency key was reused with a different payload."""

    status = 422
    code = "idempotency_key_reused"


class RateLimitedError(RequestError):
    """Over ``rate_limit`` (overall or for the caller's tenant); retry after ``retry_after_s``."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReadyError(RuntimeCoreError):
    """The model is not loaded yet, or the service is draining."""

    status = 503
    code = "not_ready"


class OverloadedError(RuntimeCoreError):
    """Too many requests are in flight; the client should retry after ``Retry-After`` seconds."""

    status = 503
    code = "overloaded"


class DeadlineError(RuntimeCoreError):
    """The request exceeded ``api.timeout_s`` and no fallback answered."""

    status = 504
    code = "timeout"


class ModelError(RuntimeCoreError):
    """The model or a hook raised, and no fallback answered."""

    status = 500
    code = "model_error"
