"""GCP data-plane clients over REST: metadata tokens, Firestore documents, Pub/Sub publish.

The async pattern on GCP keeps its job records (and optionally the shared result cache) in
Firestore and sends jobs through Pub/Sub. This module speaks the three REST APIs involved with
the standard library only, over keep-alive connections (one per thread and host):

* the metadata server gives the service account's access token (cached until a minute before it
  expires) and the project id (https://cloud.google.com/compute/docs/metadata/querying-metadata);
* Firestore v1 documents: create with ``documentId`` (``ALREADY_EXISTS`` when present), get
  (``NOT_FOUND``), patch and delete with ``currentDocument`` preconditions (a stale
  ``updateTime`` fails with ``FAILED_PRECONDITION``)
  (https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.documents);
* Pub/Sub ``topics.publish``
  (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.topics/publish).

``FIRESTORE_EMULATOR_HOST`` and ``PUBSUB_EMULATOR_HOST`` (``host:port``) send the calls to an
emulator over plain HTTP without a token, as Google's client libraries do; ``GCE_METADATA_HOST``
moves the metadata server. Transient failures (429, 5xx, ``ABORTED``/``UNAVAILABLE``, dropped
connections, timeouts) are retried with jittered backoff; anything else raises at once.

One exception, carrying Google's canonical status so callers branch on data::

    GcpError         an API refused the call (``status``: NOT_FOUND, ALREADY_EXISTS,
                     FAILED_PRECONDITION, PERMISSION_DENIED, ...) or could not be reached
                     (``status`` UNAVAILABLE, ``http_status`` 0)
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
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
    "Document",
    "FirestoreCacheStore",
    "FirestoreClient",
    "FirestoreJobStore",
    "GcpError",
    "GoogleApi",
    "MetadataTokens",
    "PubSubQueue",
    "decode_value",
    "document_id",
    "encode_value",
    "format_timestamp",
    "open_cache_store",
    "parse_timestamp",
    "project_id",
]

FIRESTORE_URL = "https://firestore.googleapis.com/v1"
PUBSUB_URL = "https://pubsub.googleapis.com/v1"
METADATA_HOST = "metadata.google.internal"
DEFAULT_TTL_S = 7 * 86_400

_RETRYABLE = frozenset({"ABORTED", "DEADLINE_EXCEEDED", "INTERNAL", "RESOURCE_EXHAUSTED"})
# A write that lost a race: the record changed (or appeared, or vanished) since it was read.
_LOST_RACE = frozenset({"ALREADY_EXISTS", "FAILED_PRECONDITION", "NOT_FOUND"})
_MAX_ROUNDS = 8

Value = str | int | float | bool | bytes | dt.datetime | None


class GcpError(Exception):
    """A Google API refused a call, or could not be reached.

    Attributes:
        status: Google's canonical code (``NOT_FOUND``, ``FAILED_PRECONDITION``, ...);
            ``UNAVAILABLE`` when the service could not be reached.
        http_status: The HTTP status, 0 when no answer came back.
    """

    def __init__(self, message: str, *, status: str = "UNAVAILABLE", http_status: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = http_status

    @property
    def transient(self) -> bool:
        """Whether retrying the same call may succeed (throttling, 5xx, unreachable)."""
        return (
            self.http_status in (0, 429)
            or self.http_status >= 500
            or self.status == "UNAVAILABLE"
            or self.status in _RETRYABLE
        )


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, GcpError) and exc.transient


class _Transport:
    """Keep-alive HTTP(S) connections, one per thread and host (``http.client`` is not shared).

    A connection the server closed is reopened by ``http.client`` on the next request; one that
    failed mid-request is closed and the failure raised as an ``UNAVAILABLE`` :class:`GcpError`.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Send one request and read the whole answer; returns (status, body)."""
        parts = urllib.parse.urlsplit(url)
        connections: dict[tuple[str, str], http.client.HTTPConnection] = (
            self._local.__dict__.setdefault("connections", {})
        )
        conn = connections.get((parts.scheme, parts.netloc))
        if conn is None:
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = kind(parts.netloc, timeout=self.timeout_s)
            connections[(parts.scheme, parts.netloc)] = conn
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers=dict(headers))
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise GcpError(f"{method} {url}: {exc!r}") from exc


def _api_error(method: str, url: str, status: int, payload: bytes) -> GcpError:
    # Google's error model: {"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}
    # (https://cloud.google.com/apis/design/errors); proxies may answer with anything else.
    try:
        error = json.loads(payload)["error"]
        code, message = str(error.get("status") or "UNKNOWN"), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message = "UNKNOWN", payload[:200].decode("utf-8", "replace")
    return GcpError(f"{method} {url}: {status} {code}: {message}", status=code, http_status=status)


class MetadataTokens:
    """The service account's access token and the project id, from the metadata server.

    Every call carries ``Metadata-Flavor: Google`` (the server refuses requests without it). The
    token is cached until a minute before it expires; threads share one token and one refresh.

    Args:
        host: ``host[:port]`` of the metadata server.
        timeout_s: Per-request timeout.
        backoff: Retry policy for transient failures.
        clock: Monotonic clock (injected for tests).
    """

    def __init__(
        self,
        host: str = METADATA_HOST,
        *,
        timeout_s: float = 2.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = f"http://{host}/computeMetadata/v1"
        self.backoff = backoff or Backoff()
        self._transport = _Transport(timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._refresh_at = 0.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> MetadataTokens:
        """Use ``GCE_METADATA_HOST`` when set (tests, emulators), else the real server."""
        return cls(env.get("GCE_METADATA_HOST") or METADATA_HOST)

    def token(self) -> str:
        """Return a valid access token, fetching a new one when the cached one nears expiry.

        Raises:
            GcpError: The metadata server refused or could not be reached.
        """
        with self._lock:
            if not self._token or self._clock() >= self._refresh_at:
                asked_at = self._clock()
                reply = json.loads(self._get("/instance/service-accounts/default/token"))
                self._token = str(reply["access_token"])
                self._refresh_at = asked_at + float(reply.get("expires_in", 0)) - 60.0
            return self._token

    def project_id(self) -> str:
        """Return the project id of the instance.

        Raises:
            GcpError: The metadata server refused or could not be reached.
        """
        return self._get("/project/project-id").decode("utf-8").strip()

    def _get(self, path: str) -> bytes:
        url = self.base_url + path

        def once() -> bytes:
            status, payload = self._transport.request("GET", url, {"metadata-flavor": "Google"})
            if status != 200:
                raise _api_error("GET", url, status, payload)
            return payload

        return retry(once, retryable=_transient, backoff=self.backoff)


class GoogleApi:
    """JSON calls to one Google REST API, authenticated with metadata tokens (or not).

    Args:
        base_url: ``https://firestore.googleapis.com/v1`` or an emulator's ``http://host/v1``.
        tokens: Where access tokens come from; ``None`` for an emulator.
        timeout_s: Per-request timeout.
        attempts: Tries per call, the first included.
        backoff: Retry policy for transient failures.
    """

    def __init__(
        self,
        base_url: str,
        tokens: MetadataTokens | None,
        *,
        timeout_s: float = 10.0,
        attempts: int = 4,
        backoff: Backoff | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.attempts = attempts
        self.backoff = backoff or Backoff()
        self._transport = _Transport(timeout_s)

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str], emulator_var: str, service_url: str, **options: Any
    ) -> GoogleApi:
        """The emulator named by ``emulator_var`` when set, else the service with tokens."""
        emulator = env.get(emulator_var)
        if emulator:
            return cls(f"http://{emulator}/v1", None, **options)
        return cls(service_url, MetadataTokens.from_environment(env), **options)

    def call(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one JSON request, retrying transient failures; return the decoded answer.

        Args:
            method: HTTP method.
            path: Path below the base URL, already percent-encoded.
            query: Query parameters (repeated names allowed).
            body: JSON body.

        Raises:
            GcpError: The API refused the call, or stayed unreachable.
        """
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()

        def once() -> dict[str, Any]:
            headers = {"content-type": "application/json"}
            if self.tokens is not None:
                headers["authorization"] = f"Bearer {self.tokens.token()}"
            status, payload = self._transport.request(method, url, headers, data)
            if status >= 300:
                raise _api_error(method, url, status, payload)
            reply = json.loads(payload) if payload.strip() else {}
            return reply if isinstance(reply, dict) else {}

        return retry(once, retryable=_transient, attempts=self.attempts, backoff=self.backoff)


def project_id(env: Mapping[str, str]) -> str:
    """``SVAI_GCP_PROJECT``, else the metadata server's project id.

    Raises:
        ConfigError: Neither is available.
    """
    project = env.get("SVAI_GCP_PROJECT")
    if project:
        return project
    try:
        return MetadataTokens.from_environment(env).project_id()
    except GcpError as exc:
        raise ConfigError(
            f"SVAI_GCP_PROJECT is unset and the metadata server failed: {exc}"
        ) from exc


# ---- Firestore values ---------------------------------------------------------------------


def format_timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds, as Firestore's ``timestampValue`` takes it."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp (any offset, up to nanoseconds) into an aware datetime.

    Raises:
        ValueError: Not an RFC 3339 timestamp.
    """
    main, dot, rest = text.strip().partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        # Python keeps microseconds: cut (or pad) the fraction to six digits.
        text = f"{main}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without an offset: {text!r}")
    return moment


def encode_value(value: Value) -> dict[str, Any]:
    """Encode a Python value as a Firestore ``Value`` (int64 as a string, bytes as base64).

    See https://cloud.google.com/firestore/docs/reference/rest/v1/Value.
    """
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"timestampValue": format_timestamp(value)}
    return {"stringValue": value}


def decode_value(value: Mapping[str, Any]) -> Value:
    """Decode a Firestore ``Value`` of the kinds :func:`encode_value` writes.

    Raises:
        ValueError: Another kind (map, array, reference, geo point).
    """
    for kind, raw in value.items():
        if kind == "nullValue":
            return None
        if kind == "booleanValue":
            return bool(raw)
        if kind == "integerValue":
            return int(raw)
        if kind == "doubleValue":
            return float(raw)
        if kind == "bytesValue":
            return base64.b64decode(raw)
        if kind == "timestampValue":
            return parse_timestamp(str(raw))
        if kind == "stringValue":
            return str(raw)
    raise ValueError(f"unsupported Firestore value: {sorted(value)}")


def document_id(key: str) -> str:
    """Turn a request id or cache key into a valid, distinct Firestore document id.

    Letters, digits and ``-`` stay; every other character becomes ``%XX``. Ids may not contain
    ``/`` nor be ``.``, ``..`` or ``__name__``-like, and request ids may hold ``/`` and ``.``;
    escaping ``.``, ``_`` and ``/`` rules all of those out while staying one-to-one.
    """
    return "".join(c if c.isascii() and (c.isalnum() or c == "-") else _escape(c) for c in key)


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


@dataclass(frozen=True)
class Document:
    """A Firestore document as read or written.

    Attributes:
        id: The document id.
        fields: Decoded field values.
        update_time: The server's ``updateTime``, verbatim (for ``updateTime`` preconditions).
    """

    id: str
    fields: dict[str, Value]
    update_time: str


class FirestoreClient:
    """Single-document calls of the Firestore v1 REST API.

    Args:
        api: The API connection (service or emulator).
        project: Project id.
        database: Database id (``(default)`` unless the deployment named one).
    """

    def __init__(self, api: GoogleApi, project: str, database: str = "(default)") -> None:
        self.api = api
        self.root = (
            f"/projects/{urllib.parse.quote(project, safe='')}"
            f"/databases/{urllib.parse.quote(database, safe='()')}/documents"
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str], **options: Any) -> FirestoreClient:
        """Build from ``SVAI_GCP_PROJECT``, ``SVAI_FIRESTORE_DATABASE``, ``FIRESTORE_EMULATOR_HOST``.

        Args:
            env: The process environment.
            **options: ``GoogleApi`` options (timeout, attempts, backoff).

        Raises:
            ConfigError: No project id is known.
        """
        api = GoogleApi.from_environment(env, "FIRESTORE_EMULATOR_HOST", FIRESTORE_URL, **options)
        return cls(api, project_id(env), env.get("SVAI_FIRESTORE_DATABASE") or "(default)")

    def get(self, collection: str, doc_id: str) -> Document | None:
        """Read one document, or ``None`` when it does not exist."""
        try:
            return _document(self.api.call("GET", self._path(collection, doc_id)))
        except GcpError as exc:
            if exc.status == "NOT_FOUND":
                return None
            raise

    def create(self, collection: str, doc_id: str, fields: Mapping[str, Value]) -> Document:
        """Create a document; raise ``ALREADY_EXISTS`` when the id is taken."""
        path = f"{self.root}/{urllib.parse.quote(collection, safe='')}"
        body = {"fields": _encode_fields(fields)}
        return _document(self.api.call("POST", path, [("documentId", doc_id)], body))

    def patch(
        self,
        collection: str,
        doc_id: str,
        fields: Mapping[str, Value],
        *,
        mask: Sequence[str] | None = None,
        exists: bool | None = None,
        update_time: str | None = None,
    ) -> Document:
        """Write fields, creating the document unless a precondition says otherwise.

        Args:
            collection: Collection id.
            doc_id: Document id.
            fields: Values to write.
            mask: Field paths to update (others are kept); ``None`` replaces the document.
            exists: Require the document to exist (``NOT_FOUND``) or not (``ALREADY_EXISTS``).
            update_time: Require this ``updateTime`` (``FAILED_PRECONDITION`` otherwise).
        """
        query = [("updateMask.fieldPaths", name) for name in mask or ()]
        query += _precondition(exists, update_time)
        body = {"fields": _encode_fields(fields)}
        return _document(self.api.call("PATCH", self._path(collection, doc_id), query, body))

    def delete(
        self,
        collection: str,
        doc_id: str,
        *,
        exists: bool | None = None,
        update_time: str | None = None,
    ) -> None:
        """Delete a document (a missing one is no error unless a precondition asks)."""
        self.api.call("DELETE", self._path(collection, doc_id), _precondition(exists, update_time))

    def _path(self, collection: str, doc_id: str) -> str:
        quote = urllib.parse.quote
        return f"{self.root}/{quote(collection, safe='')}/{quote(doc_id, safe='')}"


def _precondition(exists: bool | None, update_time: str | None) -> list[tuple[str, str]]:
    query = []
    if exists is not None:
        query.append(("currentDocument.exists", "true" if exists else "false"))
    if update_time is not None:
        query.append(("currentDocument.updateTime", update_time))
    return query


def _encode_fields(fields: Mapping[str, Value]) -> dict[str, Any]:
    return {name: encode_value(value) for name, value in fields.items()}


def _document(reply: Mapping[str, Any]) -> Document:
    fields = {name: decode_value(value) for name, value in (reply.get("fields") or {}).items()}
    doc_id = urllib.parse.unquote(str(reply.get("name", "")).rsplit("/", 1)[-1])
    return Document(doc_id, fields, str(reply.get("updateTime", "")))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---- the stores ---------------------------------------------------------------------------


class FirestoreCacheStore:
    """The shared result cache in a Firestore collection (a core ``CacheStore``).

    Document per cache key: ``value`` (bytes) and ``expires_at`` (timestamp, the collection's TTL
    field). Firestore's TTL deletes expired documents lazily (typically within 24 hours), so
    :meth:`get` treats an expired document as absent. Calls are tried once: the core's ``Cache``
    treats an error as an outage and serves from memory, which beats stalling a request.

    Args:
        client: The Firestore client.
        collection: Collection id.
    """

    def __init__(self, client: FirestoreClient, collection: str = "cache") -> None:
        self.client = client
        self.collection = collection

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> FirestoreCacheStore:
        """Build from the environment (``SVAI_CACHE_COLLECTION``, default ``cache``)."""
        client = FirestoreClient.from_environment(env, timeout_s=2.0, attempts=1)
        return cls(client, env.get("SVAI_CACHE_COLLECTION") or "cache")

    def get(self, key: str) -> bytes | None:
        """Return the live value, or ``None``; errors propagate (the cache's outage signal)."""
        doc = self.client.get(self.collection, document_id(key))
        if doc is None:
            return None
        expires, value = doc.fields.get("expires_at"), doc.fields.get("value")
        if not isinstance(expires, dt.datetime) or expires <= _now():
            return None
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Write (or overwrite) ``key`` with its expiry."""
        expires = _now() + dt.timedelta(seconds=ttl_s)
        self.client.patch(
            self.collection, document_id(key), {"value": value, "expires_at": expires}
        )

    def close(self) -> None:
        """Nothing to release: connections close with their threads."""


class FirestoreJobStore:
    """The async pattern's job records in a Firestore collection (a :class:`JobStore`).

    One document per client request id (see :func:`document_id`), fields::

        request_id     string     the client's request id
        status         string     "queued" (created by the front) | "done" (written by a worker)
        outputs        string     the outputs as compact JSON (done only)
        model_version, input_hash  string  (done only)
        submitted_at, completed_at timestamp
        expires_at     timestamp  the collection's TTL field: now + ``ttl_s`` at each write
        writes         integer    how many times a result was written: 1 unless idempotency broke
        writer         string     random id of the call that last wrote the document

    Writes are conditional: ``create`` only when absent, ``put_once`` only over the exact version
    it read (``updateTime`` precondition), re-reading and deciding again when it lost a race, so
    the result is written once per request id however many workers race and however often
    Pub/Sub redelivers. ``writer`` lets a call whose reply was lost (and whose retry then found
    the document taken) recognise its own write.

    Args:
        client: The Firestore client.
        collection: Collection id.
        ttl_s: How long records are kept.
    """

    def __init__(
        self, client: FirestoreClient, collection: str = "results", ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        self.client = client
        self.collection = collection
        self.ttl_s = ttl_s
        self._records = _FirestoreRecords(client, collection)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> FirestoreJobStore:
        """Build from ``SVAI_RESULTS_COLLECTION`` and ``SVAI_RESULT_TTL_S`` (and the client's)."""
        return cls(
            FirestoreClient.from_environment(env),
            env.get("SVAI_RESULTS_COLLECTION") or "results",
            float(env.get("SVAI_RESULT_TTL_S") or DEFAULT_TTL_S),
        )

    def create(self, request_id: str) -> bool:
        """Record a queued job; False if a record already exists (a client retry)."""
        now = _now()
        fields: dict[str, Value] = {
            "request_id": request_id,
            "status": "queued",
            "submitted_at": now,
            "expires_at": now + dt.timedelta(seconds=self.ttl_s),
            "writes": 0,
        }
        return create_once(self._records, request_id, fields)

    def forget(self, request_id: str) -> None:
        """Delete the record if it is still queued (a done result is never removed)."""
        forget_queued(self._records, request_id, rounds=_MAX_ROUNDS, gave_up=None)

    def read(self, request_id: str) -> JobRecord | None:
        """Read the record, queued or done, or ``None`` when unknown."""
        doc = self.client.get(self.collection, document_id(request_id))
        if doc is None:
            return None
        status = str(doc.fields.get("status") or "queued")
        return JobRecord(request_id, status, stored_result(doc.fields))

    def get(self, request_id: str) -> StoredResult | None:
        """Read a finished result, or ``None`` (unknown or still queued)."""
        doc = self.client.get(self.collection, document_id(request_id))
        return None if doc is None else stored_result(doc.fields)

    def put_once(
        self, request_id: str, outputs_json: bytes, model_version: str, input_hash: str
    ) -> bool:
        """Store the result unless one is stored; True if this call wrote it.

        Args:
            request_id: The client's request id.
            outputs_json: The outputs as JSON bytes.
            model_version: Version id of the model that answered.
            input_hash: SHA-256 of the canonical payload.

        Raises:
            GcpError: Firestore failed, or the record kept changing under this call.
        """

        def done(current: Mapping[str, Any] | None) -> dict[str, Any]:
            now = _now()
            fields: dict[str, Any] = {
                "request_id": request_id,
                "outputs": outputs_json.decode("utf-8"),
                "model_version": model_version,
                "input_hash": input_hash,
                "completed_at": now,
                "expires_at": now + dt.timedelta(seconds=self.ttl_s),
            }
            return fields if current is not None else {**fields, "submitted_at": now}

        return write_once(
            self._records,
            request_id,
            done,
            rounds=_MAX_ROUNDS,
            gave_up=lambda: GcpError(
                f"put_once({request_id!r}): the record kept changing", status="ABORTED"
            ),
        )


class _FirestoreRecords:
    """A collection as :class:`~svai.runtime.core.jobs.Records`: ``updateTime`` is the version."""

    def __init__(self, client: FirestoreClient, collection: str) -> None:
        self.client = client
        self.collection = collection

    def load(self, request_id: str) -> tuple[Mapping[str, Any], str] | None:
        doc = self.client.get(self.collection, document_id(request_id))
        return None if doc is None else (doc.fields, doc.update_time)

    def insert(self, request_id: str, fields: Mapping[str, Any]) -> bool:
        return _won(lambda: self.client.create(self.collection, document_id(request_id), fields))

    def swap(self, request_id: str, fields: Mapping[str, Any], version: str) -> bool:
        doc_id = document_id(request_id)
        return _won(
            lambda: self.client.patch(
                self.collection, doc_id, fields, mask=sorted(fields), update_time=version
            )
        )

    def remove(self, request_id: str, version: str) -> bool:
        doc_id = document_id(request_id)
        return _won(lambda: self.client.delete(self.collection, doc_id, update_time=version))


def _won(write: Callable[[], object]) -> bool:
    """Run a conditional write; False when it lost a race (the record changed since read)."""
    try:
        write()
    except GcpError as exc:
        if exc.status not in _LOST_RACE:
            raise
        return False
    return True


_PUBLISH_ENVELOPE_BYTES = 1024
"""Room for the publish request's JSON around the data (the request id attribute is <= 128)."""


class PubSubQueue:
    """The GCP :class:`JobQueue`: one Pub/Sub message per job, attribute ``request_id``.

    Args:
        api: The Pub/Sub API connection (service or emulator).
        topic: Full topic name, ``projects/P/topics/T``.
        limit_bytes: Pub/Sub's message limit (``SVAI_QUEUE_MESSAGE_BYTES``), if known.
    """

    def __init__(self, api: GoogleApi, topic: str, limit_bytes: int | None = None) -> None:
        self.api = api
        self.topic = topic
        self.limit_bytes = limit_bytes

    @property
    def max_message_bytes(self) -> int | None:
        """The largest job body that fits, or ``None`` when the limit is not known.

        The publish request carries the body base64-encoded (4 bytes for every 3) inside a JSON
        envelope, and the request as a whole must stay within Pub/Sub's limit.
        """
        if self.limit_bytes is None:
            return None
        return (self.limit_bytes - _PUBLISH_ENVELOPE_BYTES) // 4 * 3

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> PubSubQueue:
        """Build from ``SVAI_PUBSUB_TOPIC`` (and ``PUBSUB_EMULATOR_HOST``).

        The topic is ``projects/P/topics/T``, or a bare topic id in the instance's project (the
        backend writes a bare id when the target names no project).

        Raises:
            ConfigError: The topic is missing or malformed, or a bare id's project is unknown.
        """
        topic = env.get("SVAI_PUBSUB_TOPIC", "")
        if topic and "/" not in topic:
            topic = f"projects/{project_id(env)}/topics/{topic}"
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "topics" or "" in parts:
            raise ConfigError(f"SVAI_PUBSUB_TOPIC={topic!r}: expected projects/P/topics/T")
        api = GoogleApi.from_environment(env, "PUBSUB_EMULATOR_HOST", PUBSUB_URL)
        return cls(api, topic, message_limit(env))

    def send(self, request_id: str, body: str) -> None:
        """Publish one job body; raise when Pub/Sub refused it."""
        message = {
            "data": base64.b64encode(body.encode("utf-8")).decode("ascii"),
            "attributes": {"request_id": request_id},
        }
        self.api.call(
            "POST", f"/{urllib.parse.quote(self.topic)}:publish", body={"messages": [message]}
        )


def open_cache_store(url: str, base_dir: Path) -> FirestoreCacheStore | None:
    """Open ``firestore://``: the collection named by ``SVAI_CACHE_COLLECTION`` (GCP backend).

    Without that variable (a cloud build run locally by ``svai serve``) there is no shared store.

    Raises:
        ConfigError: a URL other than ``firestore://``.
    """
    if url != "firestore://":
        raise ConfigError(f"cache.store {url!r}: the Firestore store is 'firestore://'")
    if not os.environ.get("SVAI_CACHE_COLLECTION"):
        return None
    return FirestoreCacheStore.from_environment(os.environ)
