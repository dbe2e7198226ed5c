"""A loopback fake of the GCP APIs the runtime uses: metadata server, Firestore REST, Pub/Sub.

One ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) answers the subset svai calls, with
Google's documented semantics, so a wrong call fails here as it would in the cloud:

* Metadata server (https://cloud.google.com/compute/docs/metadata/querying-metadata): requests
  without ``Metadata-Flavor: Google`` get 403; ``/computeMetadata/v1/project/project-id`` and
  ``.../instance/service-accounts/default/token`` (``access_token``, ``expires_in``,
  ``token_type``; https://cloud.google.com/compute/docs/access/authenticate-workloads).
* Firestore v1 documents (https://cloud.google.com/firestore/docs/reference/rest/v1/
  projects.databases.documents): ``createDocument`` (``?documentId=``; 409 ALREADY_EXISTS),
  ``get`` (404 NOT_FOUND), ``patch`` (``updateMask.fieldPaths``; upsert unless a precondition
  says otherwise), ``delete``; ``currentDocument.exists`` (false on an existing document: 409
  ALREADY_EXISTS, true on a missing one: 404 NOT_FOUND) and ``currentDocument.updateTime`` (400
  FAILED_PRECONDITION on a mismatch; .../v1/Precondition); values checked against
  https://cloud.google.com/firestore/docs/reference/rest/v1/Value (``integerValue`` is a
  string, ``bytesValue`` base64, ``timestampValue`` RFC 3339); document ids checked against
  https://firebase.google.com/docs/firestore/quotas#collections_documents_and_fields.
* Pub/Sub ``topics.publish`` (https://cloud.google.com/pubsub/docs/reference/rest/v1/
  projects.topics/publish) and push delivery (https://cloud.google.com/pubsub/docs/push): the
  envelope ``{message: {data, messageId, publishTime, attributes}, subscription,
  deliveryAttempt}``; 102/200/201/202/204 acknowledge, anything else (or no answer within the
  ack deadline) is a nack, redelivered after exponential backoff between the retry policy's
  minimum and maximum; after ``maxDeliveryAttempts`` the message goes to the dead-letter list
  (https://cloud.google.com/pubsub/docs/handling-failures). Delivery is at-least-once: with
  ``duplicate_p`` an acknowledged message is, now and then, delivered once more.

Errors use Google's JSON error model (https://cloud.google.com/apis/design/errors). With
``require_auth`` the Firestore and Pub/Sub APIs want ``Authorization: Bearer`` with an unexpired
token from the fake metadata server (401 UNAUTHENTICATED otherwise); without it they behave like
the emulators (no credentials). ``outage`` makes Firestore answer 503 UNAVAILABLE.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import heapq
import http.client
import itertools
import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACK_CODES = frozenset({102, 200, 201, 202, 204})
_HTTP = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "UNAVAILABLE": 503,
}
_DOCS = re.compile(r"^/v1/projects/(?P<p>[^/]+)/databases/(?P<db>[^/]+)/documents/(?P<rest>.+)$")
_PUBLISH = re.compile(r"^/v1/(?P<topic>projects/[^/]+/topics/[^/:]+):publish$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
_VALUE_KINDS = frozenset(
    {"nullValue", "booleanValue", "integerValue", "doubleValue", "timestampValue"}
    | {"stringValue", "bytesValue", "referenceValue", "geoPointValue", "arrayValue", "mapValue"}
)


PUBLISH_REQUEST_BYTES = 10_485_760
"""Pub/Sub refuses a publish request above 10 MiB (https://cloud.google.com/pubsub/quotas)."""


class ApiError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _rfc3339(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Message:
    message_id: str
    data: str
    attributes: dict[str, str]
    publish_time: str


@dataclass
class _Pending:
    message: Message
    attempts: int = 0
    duplicated: bool = False


@dataclass
class Subscription:
    """A push subscription with a dead-letter policy and an exponential retry policy."""

    name: str
    topic: str
    endpoint: str
    max_delivery_attempts: int = 5
    min_backoff_s: float = 0.1
    max_backoff_s: float = 1.0
    ack_deadline_s: float = 10.0
    duplicate_p: float = 0.0
    concurrency: int = 4
    seed: int = 0
    acked: list[str] = field(default_factory=list)
    dead_letters: list[Message] = field(default_factory=list)
    attempts: list[tuple[str, int, int]] = field(default_factory=list)
    _heap: list[tuple[float, int, _Pending]] = field(default_factory=list)
    _busy: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _closed: bool = False

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for i in range(self.concurrency):
            threading.Thread(target=self._loop, name=f"push-{i}", daemon=True).start()

    def enqueue(self, message: Message) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic(), next(self._seq), _Pending(message)))
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and self._busy == 0

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, pending = heapq.heappop(self._heap)
                self._busy += 1
                pending.attempts += 1
            status = self._push(pending)
            with self._cond:
                self._busy -= 1
                self._settle(pending, status)
                self._cond.notify_all()

    def _push(self, pending: _Pending) -> int:
        message = pending.message
        envelope = {
            "message": {
                "data": message.data,
                "attributes": message.attributes,
                "messageId": message.message_id,
                "message_id": message.message_id,
                "publishTime": message.publish_time,
                "publish_time": message.publish_time,
            },
            "subscription": self.name,
            "deliveryAttempt": pending.attempts,
        }
        url = urllib.parse.urlsplit(self.endpoint)
        conn = http.client.HTTPConnection(url.netloc, timeout=self.ack_deadline_s)
        try:
            conn.request(
                "POST",
                url.path,
                body=json.dumps(envelope).encode(),
                headers={
                    "content-type": "application/json",
                    "authorization": "Bearer push-oidc-token",
                    "user-agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
                },
            )
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException):
            status = 0  # refused, reset or past the ack deadline: a nack
        finally:
            conn.close()
        return status

    def _settle(self, pending: _Pending, status: int) -> None:
        message = pending.message
        self.attempts.append((message.message_id, pending.attempts, status))
        if status in ACK_CODES:
            self.acked.append(message.message_id)
            if not pending.duplicated and self._rng.random() < self.duplicate_p:
                pending.duplicated = True  # at-least-once: an acked message comes back
                heapq.heappush(self._heap, (time.monotonic(), next(self._seq), pending))
            return
        if pending.attempts >= self.max_delivery_attempts:
            self.dead_letters.append(message)
            return
        delay = min(self.max_backoff_s, self.min_backoff_s * 2 ** (pending.attempts - 1))
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), pending))


class FakeGcp:
    """The fake server. Use as a context manager; ``host`` is ``127.0.0.1:PORT``."""

    def __init__(
        self, project: str = "svai-test", *, require_auth: bool = False, token_ttl_s: int = 3600
    ) -> None:
        self.project = project
        self.require_auth = require_auth
        self.token_ttl_s = token_ttl_s
        self.outage = False
        self.lock = threading.Lock()
        self.documents: dict[str, dict[str, Any]] = {}
        self.topics: dict[str, list[Message]] = {}
        self.subscriptions: list[Subscription] = []
        self.tokens: dict[str, float] = {}
        self.calls: list[tuple[str, str, int]] = []
        self._ids = itertools.count(1000)
        self._last_update = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_PATCH(self) -> None:
                fake._serve(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._serve(self, "DELETE")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGcp:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for sub in self.subscriptions:
            sub.close()
        self.server.shutdown()
        self.server.server_close()

    # -- setup and inspection ---------------------------------------------------------------

    def create_topic(self, name: str) -> str:
        topic = f"projects/{self.project}/topics/{name}"
        self.topics.setdefault(topic, [])
        return topic

    def create_push_subscription(
        self, name: str, topic: str, endpoint: str, **policy: Any
    ) -> Subscription:
        sub = Subscription(
            f"projects/{self.project}/subscriptions/{name}", topic, endpoint, **policy
        )
        self.subscriptions.append(sub)
        return sub

    def collection(self, name: str, database: str = "(default)") -> dict[str, dict[str, Any]]:
        """Documents of one collection by id, fields as raw Firestore values."""
        prefix = f"projects/{self.project}/databases/{database}/documents/{name}/"
        with self.lock:
            return {
                key[len(prefix) :]: doc["fields"]
                for key, doc in self.documents.items()
                if key.startswith(prefix) and "/" not in key[len(prefix) :]
            }

    def wait_idle(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if all(sub.idle() for sub in self.subscriptions):
                return True
            time.sleep(0.05)
        return False

    # -- HTTP -------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            if url.path.startswith("/computeMetadata/v1/"):
                status, body, ctype = self._metadata(url.path, headers)
            else:
                self._check_auth(headers)
                status, body, ctype = (
                    200,
                    json.dumps(self._api(method, url.path, query, raw)),
                    "application/json",
                )
        except ApiError as exc:
            status = _HTTP.get(exc.status, 500)
            error = {"error": {"code": status, "message": exc.message, "status": exc.status}}
            body, ctype = json.dumps(error), "application/json"
        data = body.encode()
        with self.lock:
            self.calls.append((method, url.path, status))
        handler.send_response(status)
        handler.send_header("content-type", ctype)
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _metadata(self, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
        if headers.get("metadata-flavor") != "Google":
            return 403, "Missing required header: Metadata-Flavor", "text/html"
        if path == "/computeMetadata/v1/project/project-id":
            return 200, self.project, "application/text"
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            token = f"ya29.fake-{next(self._ids)}"
            with self.lock:
                self.tokens[token] = time.monotonic() + self.token_ttl_s
            reply = {"access_token": token, "expires_in": self.token_ttl_s, "token_type": "Bearer"}
            return 200, json.dumps(reply), "application/json"
        return 404, "Not Found", "text/html"

    def _check_auth(self, headers: dict[str, str]) -> None:
        if not self.require_auth:
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self.lock:
            expiry = self.tokens.get(token)
        if scheme != "Bearer" or expiry is None or expiry <= time.monotonic():
            raise ApiError("UNAUTHENTICATED", "Request had invalid authentication credentials.")

    def _api(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Any:
        publish = _PUBLISH.match(path)
        if publish and method == "POST":
            return self._publish(publish["topic"], raw)
        docs = _DOCS.match(path)
        if docs is None:
            raise ApiError("NOT_FOUND", f"no such API: {path}")
        if self.outage:
            raise ApiError("UNAVAILABLE", "The service is currently unavailable.")
        if docs["p"] != self.project:
            raise ApiError("PERMISSION_DENIED", f"no access to project {docs['p']}")
        root = f"projects/{docs['p']}/databases/{urllib.parse.unquote(docs['db'])}/documents"
        segments = [urllib.parse.unquote(s) for s in docs["rest"].split("/")]
        body = json.loads(raw) if raw else {}
        if len(segments) == 1 and method == "POST":
            doc_id = (query.get("documentId") or [f"auto{next(self._ids)}"])[0]
            return self._write(f"{root}/{segments[0]}", doc_id, body, exists=False, mask=None)
        if len(segments) != 2:
            raise ApiError("INVALID_ARGUMENT", f"not a document path: {path}")
        parent, doc_id = f"{root}/{segments[0]}", segments[1]
        exists = query.get("currentDocument.exists", [None])[0]
        update_time = query.get("currentDocument.updateTime", [None])[0]
        if method == "GET":
            with self.lock:
                doc = self.documents.get(f"{parent}/{doc_id}")
            if doc is None:
                raise ApiError("NOT_FOUND", f'Document "{parent}/{doc_id}" not found.')
            return doc
        if method == "PATCH":
            return self._write(
                parent,
                doc_id,
                body,
                exists=None if exists is None else exists == "true",
                mask=query.get("updateMask.fieldPaths"),
                update_time=update_time,
            )
        if method == "DELETE":
            with self.lock:
                name = f"{parent}/{doc_id}"
                self._check_precondition(
                    name, None if exists is None else exists == "true", update_time
                )
                self.documents.pop(name, None)
            return {}
        raise ApiError("INVALID_ARGUMENT", f"{method} not supported on {path}")

    def _check_precondition(self, name: str, exists: bool | None, update_time: str | None) -> None:
        doc = self.documents.get(name)
        if exists is False and doc is not None:
            raise ApiError("ALREADY_EXISTS", f"Document already exists: {name}")
        if exists is True and doc is None:
            raise ApiError("NOT_FOUND", f"No document to update: {name}")
        if update_time is not None:
            if not _RFC3339.match(update_time):
                raise ApiError("INVALID_ARGUMENT", f"bad updateTime {update_time!r}")
            if doc is None or doc["updateTime"] != update_time:
                stored = doc["updateTime"] if doc else "none"
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"the stored version ({stored}) does not match the required base version ({update_time})",
                )

    def _write(
        self,
        parent: str,
        doc_id: str,
        body: dict[str, Any],
        *,
        exists: bool | None,
        mask: list[str] | None,
        update_time: str | None = None,
    ) -> dict[str, Any]:
        if not doc_id or "/" in doc_id or doc_id in (".", "..") or re.fullmatch(r"__.*__", doc_id):
            raise ApiError("INVALID_ARGUMENT", f"invalid document id {doc_id!r}")
        fields = body.get("fields", {})
        for name, value in fields.items():
            _check_value(name, value)
        name = f"{parent}/{doc_id}"
        with self.lock:
            self._check_precondition(name, exists, update_time)
            now = max(dt.datetime.now(dt.UTC), self._last_update + dt.timedelta(microseconds=1))
            self._last_update = now
            old = self.documents.get(name)
            if mask is None:
                new_fields = dict(fields)
            else:
                new_fields = dict(old["fields"]) if old else {}
                for path in mask:
                    if path in fields:
                        new_fields[path] = fields[path]
                    else:
                        new_fields.pop(path, None)
            doc = {
                "name": name,
                "fields": new_fields,
                "createTime": old["createTime"] if old else _rfc3339(now),
                "updateTime": _rfc3339(now),
            }
            self.documents[name] = doc
            return doc

    def _publish(self, topic: str, raw: bytes) -> dict[str, Any]:
        if topic not in self.topics:
            raise ApiError("NOT_FOUND", f"Resource not found (resource={topic}).")
        if len(raw) > PUBLISH_REQUEST_BYTES:
            raise ApiError(
                "INVALID_ARGUMENT",
                f"Request payload size exceeds the limit: {PUBLISH_REQUEST_BYTES} bytes.",
            )
        messages = json.loads(raw).get("messages") or []
        if not messages:
            raise ApiError("INVALID_ARGUMENT", "The request contains no messages.")
        ids = []
        for item in messages:
            try:
                base64.b64decode(item.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise ApiError("INVALID_ARGUMENT", "data is not base64") from None
            attributes = item.get("attributes") or {}
            if not all(isinstance(v, str) for v in attributes.values()):
                raise ApiError("INVALID_ARGUMENT", "attribute values must be strings")
            message = Message(
                str(next(self._ids)),
                item.get("data", ""),
                attributes,
                _rfc3339(dt.datetime.now(dt.UTC)),
            )
            with self.lock:
                self.topics[topic].append(message)
            for sub in self.subscriptions:
                if sub.topic == topic:
                    sub.enqueue(message)
            ids.append(message.message_id)
        return {"messageIds": ids}


def _check_value(name: str, value: Any) -> None:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _VALUE_KINDS:
        raise ApiError("INVALID_ARGUMENT", f"field {name}: not a Value: {value!r}")
    kind, raw = next(iter(value.items()))
    ok = True
    if kind == "integerValue":
        ok = isinstance(raw, str) and re.fullmatch(r"-?\d+", raw) is not None
    elif kind == "timestampValue":
        ok = isinstance(raw, str) and _RFC3339.match(raw) is not None
    elif kind == "bytesValue":
        try:
            base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError, TypeError):
            ok = False
    elif kind == "stringValue":
        ok = isinstance(raw, str)
    if not ok:
        raise ApiError("INVALID_ARGUMENT", f"field {name}: invalid {kind}: {raw!r}")
