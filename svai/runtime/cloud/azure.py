"""Azure data plane over REST: Cosmos DB (SQL API) and Service Bus, with managed-identity tokens.

Stdlib only (``urllib.request``): this module is copied into every Azure artifact and must not
slow the cold start. Every call carries an Entra ID token of the deployment's user-assigned
identity, fetched from the platform's managed identity endpoint (Container Apps and Functions
set ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``); no account key or SAS is ever used.

* :class:`CosmosContainer` speaks the Cosmos DB document REST API
  (https://learn.microsoft.com/rest/api/cosmos-db/documents) with
  ``Authorization: type=aad&ver=1.0&sig=<token>``
  (https://learn.microsoft.com/rest/api/cosmos-db/access-control-on-cosmosdb-resources).
  :class:`CosmosCacheStore` (a core ``CacheStore``) and :class:`CosmosJobStore` (the async
  pattern's ``JobStore``) are built on it. Items carry a ``ttl`` (seconds; the containers have a
  ``defaultTtl`` so Cosmos DB honours it) and an ``expires_at`` epoch.
* :class:`ServiceBusQueue` speaks the Service Bus REST API
  (https://learn.microsoft.com/rest/api/servicebus/service-bus-runtime-rest): send, peek-lock
  receive, complete, abandon (unlock) and renew-lock.

Throttling (429, honouring ``x-ms-retry-after-ms``), 408, 449, 5xx, dropped connections and
timeouts are retried with jittered backoff. Errors::

    AzureError                 an Azure call failed (``status`` is 0 for a connection failure)
    ConfigError (core)         a required environment variable is missing or malformed
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import math
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svai.runtime.core.errors import ConfigError
from svai.runtime.core.jobs import (
    JobRecord,
    StoredResult,
    create_once,
    forget_queued,
    message_limit,
    stored_result,
    write_once,
)
from svai.runtime.core.retry import Backoff, retry

__all__ = [
    "AzureError",
    "CosmosCacheStore",
    "CosmosContainer",
    "CosmosJobStore",
    "LockedMessage",
    "ManagedIdentityTokens",
    "ServiceBusQueue",
    "env_seconds",
    "is_transient",
    "open_cache_store",
]

COSMOS_RESOURCE = "https://cosmos.azure.com"
"""Entra ID audience of the Cosmos DB data plane."""
SERVICEBUS_RESOURCE = "https://servicebus.azure.net"
"""Entra ID audience of the Service Bus data plane."""
COSMOS_API_VERSION = "2018-12-31"
IDENTITY_API_VERSION = "2019-08-01"
DEFAULT_RESULT_TTL_S = 7 * 86_400

_RETRY_STATUSES = frozenset({408, 429, 449})
# A document id may not contain these (Cosmos DB resource id rules); request ids may hold "/".
_ID_ESCAPE = str.maketrans({"/": "|"})


class AzureError(Exception):
    """An Azure data-plane call answered an unexpected status, or could not be made.

    Attributes:
        status: The HTTP status (0: no answer).
        retry_after_s: The service's retry hint (``x-ms-retry-after-ms`` / ``Retry-After``).
    """

    def __init__(self, message: str, status: int = 0, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


def is_transient(exc: BaseException) -> bool:
    """Say whether an Azure call is worth retrying.

    Args:
        exc: What the call raised.

    Returns:
        True for throttling, 408/449/5xx answers and connection-level failures.
    """
    if isinstance(exc, AzureError):
        return exc.status in _RETRY_STATUSES or exc.status >= 500
    return isinstance(exc, OSError | http.client.HTTPException)


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _exchange(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout_s: float
) -> _Reply:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return _Reply(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as err:
        with err:
            return _Reply(err.code, _lower(err.headers), err.read())


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _retry_after_s(reply: _Reply) -> float:
    try:
        if "x-ms-retry-after-ms" in reply.headers:
            return float(reply.headers["x-ms-retry-after-ms"]) / 1000.0
        return float(reply.headers.get("retry-after", "0"))
    except ValueError:
        return 0.0


def _env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"{name} is not set (the Azure backend sets it on the service)")
    return value


def env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """Read a number of seconds from the environment.

    Args:
        env: The environment.
        name: The variable.
        default: The value when it is unset or empty.

    Raises:
        ConfigError: The value is not a number.
    """
    raw = env.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None


class ManagedIdentityTokens:
    """Entra ID tokens of a user-assigned managed identity, cached per resource.

    Uses the App Service / Container Apps / Functions identity endpoint
    (https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference):
    ``GET {IDENTITY_ENDPOINT}?resource=R&api-version=2019-08-01&client_id=C`` with the
    ``X-IDENTITY-HEADER`` secret, answering ``access_token`` and ``expires_on`` (epoch seconds).
    A token is reused until ``refresh_margin_s`` before it expires; one thread fetches while the
    others wait, so a burst of requests costs one token call.

    Args:
        endpoint: ``IDENTITY_ENDPOINT``.
        secret: ``IDENTITY_HEADER``.
        client_id: The user-assigned identity's client id (``AZURE_CLIENT_ID``).
        refresh_margin_s: Refresh this long before expiry.
        timeout_s: Per-call timeout.
        backoff: Retry policy for transient failures.
    """

    def __init__(
        self,
        endpoint: str,
        secret: str,
        client_id: str,
        *,
        refresh_margin_s: float = 300.0,
        timeout_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.refresh_margin_s = refresh_margin_s
        self.timeout_s = timeout_s
        self.backoff = backoff or Backoff()
        self._secret = secret
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ManagedIdentityTokens:
        """Read ``IDENTITY_ENDPOINT``, ``IDENTITY_HEADER`` and ``AZURE_CLIENT_ID``.

        Raises:
            ConfigError: One of them is missing.
        """
        return cls(
            _env(env, "IDENTITY_ENDPOINT"),
            _env(env, "IDENTITY_HEADER"),
            _env(env, "AZURE_CLIENT_ID"),
        )

    def token(self, resource: str) -> str:
        """Return a live access token for ``resource`` (fetched when absent or nearly expired).

        Raises:
            AzureError: The identity endpoint refused or kept failing.
        """
        with self._lock:
            cached = self._tokens.get(resource)
            if cached is not None and cached[1] - self.refresh_margin_s > time.time():
                return cached[0]
            token, expires_on = retry(
                lambda: self._fetch(resource), retryable=is_transient, backoff=self.backoff
            )
            self._tokens[resource] = (token, expires_on)
            return token

    def _fetch(self, resource: str) -> tuple[str, float]:
        query = urllib.parse.urlencode(
            {"resource": resource, "api-version": IDENTITY_API_VERSION, "client_id": self.client_id}
        )
        reply = _exchange(
            "GET",
            f"{self.endpoint}?{query}",
            {"X-IDENTITY-HEADER": self._secret, "Accept": "application/json"},
            None,
            self.timeout_s,
        )
        if reply.status != 200:
            raise AzureError(
                f"managed identity endpoint answered {reply.status} for {resource}: "
                f"{reply.body[:300]!r}",
                reply.status,
            )
        data = reply.json()
        return str(data["access_token"]), float(data["expires_on"])


class _Rest:
    """Authorised, retried HTTP calls to one Azure data plane."""

    def __init__(
        self,
        tokens: ManagedIdentityTokens,
        resource: str,
        authorization: Callable[[str], str],
        *,
        timeout_s: float,
        attempts: int,
        backoff: Backoff | None,
    ) -> None:
        self.tokens = tokens
        self.resource = resource
        self.authorization = authorization
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff = backoff or Backoff()

    def call(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        expected: Collection[int],
        *,
        timeout_s: float | None = None,
        attempts: int | None = None,
    ) -> _Reply:
        """Send one request; return the reply when its status is ``expected``.

        Raises:
            AzureError: Another status, after retries of the transient ones.
        """

        def attempt() -> _Reply:
            signed = {
                **headers,
                "Authorization": self.authorization(self.tokens.token(self.resource)),
            }
            reply = _exchange(method, url, signed, body, timeout_s or self.timeout_s)
            if reply.status in expected:
                return reply
            error = AzureError(
                f"{method} {urllib.parse.urlsplit(url).path} answered {reply.status}: "
                f"{reply.body[:300]!r}",
                reply.status,
                _retry_after_s(reply),
            )
            if reply.status == 429 and error.retry_after_s > 0:
                # Honour the service's hint; the retry loop then adds its own jitter.
                time.sleep(min(error.retry_after_s, self.backoff.cap_s))
            raise error

        return retry(
            attempt,
            retryable=is_transient,
            attempts=attempts or self.attempts,
            backoff=self.backoff,
        )


class CosmosContainer:
    """Documents of one Cosmos DB container, over REST with Entra ID auth.

    Args:
        endpoint: The account endpoint (``https://acct.documents.azure.com:443/``).
        database: Database id.
        container: Container id.
        tokens: Where tokens come from.
        timeout_s: Per-call timeout.
        attempts: Tries per call, the first included.
        backoff: Retry policy for transient failures.
    """

    def __init__(
        self,
        endpoint: str,
        database: str,
        container: str,
        tokens: ManagedIdentityTokens,
        *,
        timeout_s: float = 10.0,
        attempts: int = 4,
        backoff: Backoff | None = None,
    ) -> None:
        quote = urllib.parse.quote
        self.docs_url = (
            f"{endpoint.rstrip('/')}/dbs/{quote(database, safe='')}"
            f"/colls/{quote(container, safe='')}/docs"
        )
        self._rest = _Rest(
            tokens,
            COSMOS_RESOURCE,
            lambda token: urllib.parse.quote(f"type=aad&ver=1.0&sig={token}", safe=""),
            timeout_s=timeout_s,
            attempts=attempts,
            backoff=backoff,
        )

    def _headers(self, partition_key: str, **extra: str) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "x-ms-date": email.utils.formatdate(usegmt=True),
            "x-ms-version": COSMOS_API_VERSION,
            "x-ms-documentdb-partitionkey": json.dumps([partition_key]),
            **extra,
        }

    def _doc_url(self, doc_id: str) -> str:
        return f"{self.docs_url}/{urllib.parse.quote(doc_id, safe='')}"

    def create(self, doc: Mapping[str, Any], partition_key: str, *, upsert: bool = False) -> bool:
        """Create a document (or replace it, with ``upsert``); False when the id exists.

        Args:
            doc: The document (``id`` and the partition key field included).
            partition_key: Its partition key value.
            upsert: Overwrite an existing document instead of answering False.
        """
        extra = {"Content-Type": "application/json"}
        if upsert:
            extra["x-ms-documentdb-is-upsert"] = "True"
        reply = self._rest.call(
            "POST",
            self.docs_url,
            self._headers(partition_key, **extra),
            json.dumps(dict(doc)).encode(),
            (200, 201, 409),
        )
        return reply.status != 409

    def read(self, doc_id: str, partition_key: str) -> dict[str, Any] | None:
        """Read a document (with its ``_etag``), or ``None`` when absent or expired."""
        reply = self._rest.call(
            "GET", self._doc_url(doc_id), self._headers(partition_key), None, (200, 404)
        )
        return None if reply.status == 404 else dict(reply.json())

    def replace(self, doc: Mapping[str, Any], partition_key: str, etag: str) -> bool:
        """Replace a document unless it changed since ``etag`` was read; False when it did."""
        reply = self._rest.call(
            "PUT",
            self._doc_url(str(doc["id"])),
            self._headers(partition_key, **{"Content-Type": "application/json", "If-Match": etag}),
            json.dumps(dict(doc)).encode(),
            (200, 404, 412),
        )
        return reply.status == 200

    def delete(self, doc_id: str, partition_key: str, etag: str) -> bool:
        """Delete a document unless it changed since ``etag``; False when it did or is gone."""
        reply = self._rest.call(
            "DELETE",
            self._doc_url(doc_id),
            self._headers(partition_key, **{"If-Match": etag}),
            None,
            (204, 404, 412),
        )
        return reply.status == 204


class CosmosCacheStore:
    """The shared result cache in a Cosmos DB container (a core ``CacheStore``).

    Item: ``id`` and ``key`` (partition key path ``/key``) = the cache key, ``value`` base64,
    ``ttl`` seconds (Cosmos DB deletes the item then) and ``expires_at`` epoch seconds, checked
    on read because the TTL is whole seconds. Calls are tried twice with a short timeout: a slow
    cache must not slow requests, and the core ``Cache`` treats any raise as an outage.

    Args:
        container: The ``cache`` container.
    """

    def __init__(self, container: CosmosContainer) -> None:
        self.container = container

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> CosmosCacheStore:
        """Build from ``SVAI_COSMOS_ENDPOINT``, ``SVAI_COSMOS_DATABASE``, ``SVAI_CACHE_CONTAINER``.

        Raises:
            ConfigError: A required variable is missing.
        """
        return cls(
            CosmosContainer(
                _env(env, "SVAI_COSMOS_ENDPOINT"),
                _env(env, "SVAI_COSMOS_DATABASE"),
                env.get("SVAI_CACHE_CONTAINER") or "cache",
                ManagedIdentityTokens.from_environment(env),
                timeout_s=2.0,
                attempts=2,
            )
        )

    def get(self, key: str) -> bytes | None:
        """Return the live value or ``None``; errors propagate (the cache treats them as outage)."""
        item = self.container.read(key, key)
        if item is None or float(item.get("expires_at", 0)) <= time.time():
            return None
        return base64.b64decode(item["value"])

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Write ``key`` (last writer wins) with its expiry."""
        self.container.create(
            {
                "id": key,
                "key": key,
                "value": base64.b64encode(value).decode("ascii"),
                "ttl": max(1, math.ceil(ttl_s)),
                "expires_at": time.time() + ttl_s,
            },
            key,
            upsert=True,
        )

    def close(self) -> None:
        """Nothing to release: every call opens its own connection."""


class CosmosJobStore:
    """The async pattern's job records in a Cosmos DB container (a ``JobStore``).

    Same semantics as the DynamoDB :class:`~svai.runtime.cloud.aws.ResultsStore`: one
    record per client request id, created ``queued`` by the front and made ``done`` exactly once
    by whichever worker gets there first, however often Service Bus redelivers the job. Cosmos
    DB has no conditional update expressions, so every change is read, check, then a write that
    fails if someone else wrote first (create: 409 when the id exists; replace and delete:
    ``If-Match`` the ``_etag`` read, 412 otherwise), and the loser reads again. Each write carries
    a fresh ``writer`` token: when a retried write finds a record, the token says whether the
    earlier, unanswered attempt was ours.

    Item: ``id`` (the request id, ``/`` written as ``|``, which request ids never contain),
    ``request_id`` (partition key path ``/request_id``), ``status`` (``queued`` | ``done``),
    ``outputs`` (JSON text), ``model_version``, ``input_hash``, ``submitted_at``,
    ``completed_at``, ``expires_at`` (epoch seconds), ``ttl`` (seconds), ``writes`` (1 unless
    idempotency is broken), ``writer``.

    Args:
        container: The ``results`` container.
        ttl_s: How long records are kept.
        max_rounds: Read-check-write rounds before giving up on a contended record.
    """

    def __init__(
        self,
        container: CosmosContainer,
        *,
        ttl_s: float = DEFAULT_RESULT_TTL_S,
        max_rounds: int = 20,
    ) -> None:
        self.container = container
        self.ttl_s = ttl_s
        self.max_rounds = max_rounds
        self._records = _CosmosRecords(container)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> CosmosJobStore:
        """Build from ``SVAI_COSMOS_ENDPOINT``, ``SVAI_COSMOS_DATABASE``, ``SVAI_RESULTS_CONTAINER``.

        ``SVAI_RESULT_TTL_S`` (default 7 days) sets how long records are kept.

        Raises:
            ConfigError: A required variable is missing or malformed.
        """
        return cls(
            CosmosContainer(
                _env(env, "SVAI_COSMOS_ENDPOINT"),
                _env(env, "SVAI_COSMOS_DATABASE"),
                env.get("SVAI_RESULTS_CONTAINER") or "results",
                ManagedIdentityTokens.from_environment(env),
            ),
            ttl_s=env_seconds(env, "SVAI_RESULT_TTL_S", DEFAULT_RESULT_TTL_S),
        )

    def _doc(self, request_id: str) -> dict[str, Any] | None:
        return self.container.read(_doc_id(request_id), request_id)

    def _expiry(self, now: int) -> dict[str, Any]:
        return {"expires_at": now + int(self.ttl_s), "ttl": max(1, int(self.ttl_s))}

    def create(self, request_id: str) -> bool:
        """Record a queued job unless the request id is already known.

        Returns:
            True if this call created the record, False for a retried submit.
        """
        now = int(time.time())
        doc = {"status": "queued", "submitted_at": now, **self._expiry(now)}
        return create_once(self._records, request_id, doc)

    def forget(self, request_id: str) -> None:
        """Delete the record while it is still queued (a done result is never removed)."""
        forget_queued(
            self._records,
            request_id,
            rounds=self.max_rounds,
            gave_up=lambda: AzureError(
                f"record {request_id!r} kept changing; gave up forgetting it", 412
            ),
        )

    def read(self, request_id: str) -> JobRecord | None:
        """Read the record, queued or done, or ``None`` when unknown."""
        doc = self._doc(request_id)
        if doc is None:
            return None
        return JobRecord(request_id, str(doc.get("status", "queued")), stored_result(doc))

    def get(self, request_id: str) -> StoredResult | None:
        """Read a finished result, or ``None`` (unknown or still queued)."""
        doc = self._doc(request_id)
        return None if doc is None else stored_result(doc)

    def put_once(
        self, request_id: str, outputs_json: bytes, model_version: str, input_hash: str
    ) -> bool:
        """Write the result unless one is stored for ``request_id``.

        Args:
            request_id: The client's request id.
            outputs_json: The outputs as JSON bytes.
            model_version: Version id of the model that answered.
            input_hash: SHA-256 of the canonical payload.

        Returns:
            True if this call wrote the result, False if one was already there (a duplicate).

        Raises:
            AzureError: The store kept failing, or the record kept changing under us.
        """

        def done(current: Mapping[str, Any] | None) -> dict[str, Any]:
            now = int(time.time())
            kept = {k: v for k, v in (current or {}).items() if not k.startswith("_")}
            return {
                **kept,
                "outputs": outputs_json.decode("utf-8"),
                "model_version": model_version,
                "input_hash": input_hash,
                "completed_at": now,
                **self._expiry(now),
            }

        return write_once(
            self._records,
            request_id,
            done,
            rounds=self.max_rounds,
            gave_up=lambda: AzureError(
                f"record {request_id!r} kept changing; gave up writing it", 412
            ),
        )


class _CosmosRecords:
    """A container as :class:`~svai.runtime.core.jobs.Records`: the ``_etag`` is the version."""

    def __init__(self, container: CosmosContainer) -> None:
        self.container = container

    def load(self, request_id: str) -> tuple[Mapping[str, Any], str] | None:
        doc = self.container.read(_doc_id(request_id), request_id)
        return None if doc is None else (doc, str(doc["_etag"]))

    def insert(self, request_id: str, fields: Mapping[str, Any]) -> bool:
        return self.container.create(_document(request_id, fields), request_id)

    def swap(self, request_id: str, fields: Mapping[str, Any], version: str) -> bool:
        return self.container.replace(_document(request_id, fields), request_id, version)

    def remove(self, request_id: str, version: str) -> bool:
        return self.container.delete(_doc_id(request_id), request_id, version)


def _doc_id(request_id: str) -> str:
    return request_id.translate(_ID_ESCAPE)


def _document(request_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {**fields, "id": _doc_id(request_id), "request_id": request_id}


def _epoch(rfc1123: Any) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(str(rfc1123)).timestamp() if rfc1123 else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class LockedMessage:
    """A message received in peek-lock mode: settle it by its ``lock_url``.

    Attributes:
        body: The message body (UTF-8 text).
        lock_url: The locked message's URI (the ``Location`` header of the receive).
        message_id: ``MessageId`` (the client's request id for jobs sent by the front).
        delivery_count: ``DeliveryCount``: 1 on the first delivery.
        enqueued_at: ``EnqueuedTimeUtc`` as epoch seconds (``None`` when absent).
    """

    body: str
    lock_url: str
    message_id: str
    delivery_count: int
    enqueued_at: float | None


_PROPERTIES_BYTES = 1024
"""Room for a message's properties within Service Bus's size limit (the id is <= 128)."""


class ServiceBusQueue:
    """One Service Bus queue over REST with Entra ID auth (the async pattern's ``JobQueue``).

    Args:
        base_url: ``https://{namespace}`` (or a test endpoint).
        queue: The queue name.
        tokens: Where tokens come from.
        timeout_s: Per-call timeout (a receive adds its long-poll time).
        backoff: Retry policy for transient failures.
        limit_bytes: The queue's message limit (``SVAI_QUEUE_MESSAGE_BYTES``), if known.
    """

    def __init__(
        self,
        base_url: str,
        queue: str,
        tokens: ManagedIdentityTokens,
        *,
        timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        limit_bytes: int | None = None,
    ) -> None:
        self.queue_url = f"{base_url.rstrip('/')}/{urllib.parse.quote(queue, safe='')}"
        self.limit_bytes = limit_bytes
        self._rest = _Rest(
            tokens,
            SERVICEBUS_RESOURCE,
            lambda token: f"Bearer {token}",
            timeout_s=timeout_s,
            attempts=4,
            backoff=backoff,
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ServiceBusQueue:
        """Build from ``SVAI_SERVICEBUS_NAMESPACE`` (or ``SVAI_SERVICEBUS_ENDPOINT``) and queue.

        Raises:
            ConfigError: A required variable is missing.
        """
        base = env.get("SVAI_SERVICEBUS_ENDPOINT") or (
            f"https://{_env(env, 'SVAI_SERVICEBUS_NAMESPACE')}"
        )
        return cls(
            base,
            _env(env, "SVAI_SERVICEBUS_QUEUE"),
            ManagedIdentityTokens.from_environment(env),
            limit_bytes=message_limit(env),
        )

    @property
    def max_message_bytes(self) -> int | None:
        """The largest job body that fits, or ``None`` when the limit is not known.

        Service Bus counts the message's properties (``BrokerProperties``: the message id) in its
        size, so the body gets the limit less room for them.
        """
        if self.limit_bytes is None:
            return None
        return self.limit_bytes - _PROPERTIES_BYTES

    def send(self, request_id: str, body: str) -> None:
        """Send one job body with ``MessageId`` = the request id (201 Created).

        Raises:
            AzureError: The queue refused it, or kept failing.
        """
        self._rest.call(
            "POST",
            f"{self.queue_url}/messages",
            {
                "Content-Type": "application/json",
                "BrokerProperties": json.dumps({"MessageId": request_id}),
            },
            body.encode("utf-8"),
            (201,),
        )

    def receive(self, wait_s: int = 30) -> LockedMessage | None:
        """Peek-lock the next message, waiting up to ``wait_s`` for one; ``None`` if none came.

        Raises:
            AzureError: The receive failed (the caller backs off and tries again).
        """
        reply = self._rest.call(
            "POST",
            f"{self.queue_url}/messages/head?timeout={wait_s}",
            {},
            b"",
            (201, 204),
            timeout_s=wait_s + self._rest.timeout_s,
            attempts=1,
        )
        if reply.status == 204:
            return None
        props = json.loads(reply.headers.get("brokerproperties", "{}"))
        location = reply.headers.get("location")
        if not location:
            raise AzureError("a peek-lock receive answered without a Location header", 201)
        return LockedMessage(
            body=reply.body.decode("utf-8", errors="replace"),
            lock_url=location,
            message_id=str(props.get("MessageId", "")),
            delivery_count=int(props.get("DeliveryCount", 1)),
            enqueued_at=_epoch(props.get("EnqueuedTimeUtc")),
        )

    # Receiving and settling are tried once: the worker backs off after a failed receive, and
    # a message that is not completed comes back when its lock expires.

    def complete(self, message: LockedMessage) -> None:
        """Delete the locked message (done); ``AzureError`` when the lock was lost (404)."""
        self._rest.call("DELETE", message.lock_url, {}, None, (200,), attempts=1)

    def abandon(self, message: LockedMessage) -> None:
        """Unlock the message so it is redelivered (or dead-lettered after maxDeliveryCount)."""
        self._rest.call("PUT", message.lock_url, {}, b"", (200,), attempts=1)

    def renew(self, message: LockedMessage) -> None:
        """Extend the message's lock by the queue's lock duration."""
        self._rest.call("POST", message.lock_url, {}, b"", (200,), attempts=1)


def open_cache_store(url: str, base_dir: Path) -> CosmosCacheStore | None:
    """Open ``cosmos://``: the container named by ``SVAI_CACHE_CONTAINER`` (Azure backend).

    Without it and ``SVAI_COSMOS_ENDPOINT`` (a cloud build run locally by ``svai serve``) there
    is no shared store.

    Raises:
        ConfigError: a URL other than ``cosmos://``.
    """
    if url != "cosmos://":
        raise ConfigError(f"cache.store {url!r}: the Cosmos DB store is 'cosmos://'")
    env = os.environ
    if not (env.get("SVAI_CACHE_CONTAINER") and env.get("SVAI_COSMOS_ENDPOINT")):
        return None
    return CosmosCacheStore.from_environment(env)
