"""A loopback fake of the Azure data-plane subset svai's runtime uses: one server, three services.

It follows Microsoft's documented behaviour, and refuses what Azure refuses, so a client that
forgets a header or uses the wrong token fails here as it would in Azure:

* Managed identity endpoint (App Service / Container Apps / Functions)
  https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
  ``GET /msi/token?resource=R&api-version=2019-08-01&client_id=C`` with ``X-IDENTITY-HEADER``;
  answers ``access_token`` (a JWT with ``aud``, ``iss``, ``exp``, unsigned, so that Azurite's
  OAuth mode accepts it for Blob Storage) and ``expires_on`` (epoch seconds, as a string).
* Cosmos DB (SQL API) documents: https://learn.microsoft.com/rest/api/cosmos-db/documents
  (create https://learn.microsoft.com/rest/api/cosmos-db/create-a-document: 201, 409 when the id
  exists, ``x-ms-documentdb-is-upsert``; get: 200/404; replace with ``If-Match``: 200/404/412;
  delete: 204/404/412), the common headers
  https://learn.microsoft.com/rest/api/cosmos-db/common-cosmosdb-rest-request-headers
  (``x-ms-date``, ``x-ms-version``, ``x-ms-documentdb-partitionkey``), Entra ID auth
  ``type=aad&ver=1.0&sig=<token>`` URL-encoded with audience ``https://cosmos.azure.com``
  https://learn.microsoft.com/rest/api/cosmos-db/access-control-on-cosmosdb-resources,
  resource id rules (no ``/ \\ ? #``), and time to live
  https://learn.microsoft.com/azure/cosmos-db/nosql/time-to-live: per-item ``ttl`` counts only
  when the container has a ``defaultTtl``, and an expired item is never returned.
* Service Bus queues: https://learn.microsoft.com/rest/api/servicebus/service-bus-runtime-rest
  (send https://learn.microsoft.com/rest/api/servicebus/send-message-to-queue: 201;
  peek-lock https://learn.microsoft.com/rest/api/servicebus/peek-lock-message-non-destructive-read:
  201 with ``BrokerProperties`` and ``Location``, 204 when nothing came within ``timeout``;
  delete (complete), unlock (abandon) and renew-lock on the lock URI: 200, 404 for an unknown or
  expired lock; 413 for a message above the tier's size, 256 KB on Standard
  https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas), ``Authorization: Bearer`` with audience ``https://servicebus.azure.net``.
  Message lifecycle: https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement
  and .../service-bus-dead-letter-queues: a lock lasts ``lock_duration_s`` unless renewed; an
  abandoned message or an expired lock makes the message available again, and a message that
  has been delivered ``max_delivery_count`` times is dead-lettered instead
  (``MaxDeliveryCountExceeded``); ``DeliveryCount`` is 1 on the first delivery.

Faults for tests: ``cosmos_faults`` answers a share of Cosmos writes with 503, half of them
*after* applying the write (the client cannot tell it happened); ``throttle(n)`` answers the
next ``n`` Cosmos calls 429 with ``x-ms-retry-after-ms``.
"""

from __future__ import annotations

import base64
import email.utils
import json
import random
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COSMOS = "https://cosmos.azure.com"
SERVICEBUS = "https://servicebus.azure.net"
_BAD_ID_CHARS = set("/\\?#")


@dataclass
class Message:
    """One Service Bus message as the broker holds it."""

    body: bytes
    message_id: str
    sequence_number: int
    enqueued_at: float
    delivery_count: int = 0
    lock_token: str | None = None
    locked_until: float = 0.0
    dead_letter_reason: str | None = None


@dataclass
class Queue:
    """A queue: active messages in sequence order, the locked ones, and the dead-letter list."""

    lock_duration_s: float
    max_delivery_count: int
    max_message_bytes: int = 262_144
    messages: list[Message] = field(default_factory=list)
    dead_letters: list[Message] = field(default_factory=list)
    completed: list[Message] = field(default_factory=list)
    renewals: int = 0


@dataclass
class Container:
    """A Cosmos DB container: partition key path, defaultTtl (None: TTL off), documents."""

    pk_path: str
    default_ttl: int | None
    docs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class FakeAzure:
    """The fake: start it, point the runtime's environment at it, inspect its state.

    Args:
        client_id: The only managed identity client id it issues tokens for.
        token_lifetime_s: Lifetime of issued tokens.
        seed: Seeds the fault injection.
    """

    def __init__(
        self, client_id: str = "svai-identity", token_lifetime_s: float = 3600.0, seed: int = 0
    ) -> None:
        self.client_id = client_id
        self.identity_secret = uuid.uuid4().hex
        self.token_lifetime_s = token_lifetime_s
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (resource, expires_on)
        self.token_requests: list[str] = []
        self.containers: dict[tuple[str, str], Container] = {}
        self.queues: dict[str, Queue] = {}
        self.cosmos_faults = 0.0
        self.cosmos_faults_applied = 0
        self.throttled = 0
        self.requests: list[tuple[str, str, int]] = []
        self._throttle = 0
        self._rng = random.Random(seed)
        self._sequence = 0
        self.lock = threading.Condition()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    # -- set-up and inspection ------------------------------------------------------------------

    def start(self) -> FakeAzure:
        """Serve on a background thread."""
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def env(self, database: str = "svai", queue: str = "jobs") -> dict[str, str]:
        """The environment svai's Azure backend would set, pointed at this fake."""
        return {
            "IDENTITY_ENDPOINT": f"{self.url}/msi/token",
            "IDENTITY_HEADER": self.identity_secret,
            "AZURE_CLIENT_ID": self.client_id,
            "SVAI_COSMOS_ENDPOINT": f"{self.url}/",
            "SVAI_COSMOS_DATABASE": database,
            "SVAI_SERVICEBUS_NAMESPACE": "sb-fake.servicebus.windows.net",
            "SVAI_SERVICEBUS_ENDPOINT": self.url,
            "SVAI_SERVICEBUS_QUEUE": queue,
        }

    def add_container(
        self, database: str, name: str, pk_path: str, default_ttl: int | None = -1
    ) -> Container:
        """Create a container (``default_ttl`` -1: TTL on, items live until their ``ttl``)."""
        container = Container(pk_path, default_ttl)
        self.containers[(database, name)] = container
        return container

    def add_queue(
        self,
        name: str,
        lock_duration_s: float = 30.0,
        max_delivery_count: int = 10,
        max_message_bytes: int = 262_144,
    ) -> Queue:
        """Create a queue (Standard tier: messages of at most 256 KB, properties included)."""
        queue = Queue(lock_duration_s, max_delivery_count, max_message_bytes)
        self.queues[name] = queue
        return queue

    def throttle(self, n: int) -> None:
        """Answer the next ``n`` Cosmos DB calls with 429."""
        self._throttle = n

    def live_docs(self, database: str, name: str) -> list[dict[str, Any]]:
        """The container's unexpired documents."""
        container = self.containers[(database, name)]
        with self.lock:
            return [dict(d) for d in container.docs.values() if not _expired(container, d)]

    def pending(self, name: str) -> int:
        """Messages in the queue, available or locked (not completed, not dead-lettered)."""
        with self.lock:
            self._sweep(self.queues[name])
            return len(self.queues[name].messages)

    def locked(self, name: str) -> int:
        """Messages currently locked by a receiver."""
        with self.lock:
            self._sweep(self.queues[name])
            return sum(m.lock_token is not None for m in self.queues[name].messages)

    # -- identity ------------------------------------------------------------------------------

    def _identity(self, req: _Request) -> tuple[int, dict[str, str], bytes]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
        if req.headers.get("x-identity-header") != self.identity_secret:
            return _json(401, {"error": "missing or wrong X-IDENTITY-HEADER"})
        resource = query.get("resource", [""])[0]
        if query.get("api-version") != ["2019-08-01"] or not resource:
            return _json(400, {"error": "api-version 2019-08-01 and resource are required"})
        if query.get("client_id") != [self.client_id]:
            return _json(400, {"error": "no user-assigned identity with this client_id"})
        expires_on = int(time.time() + self.token_lifetime_s)
        token = _jwt(resource.rstrip("/"), expires_on)
        with self.lock:
            self.tokens[token] = (resource.rstrip("/"), expires_on)
            self.token_requests.append(resource)
        return _json(
            200,
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": self.client_id,
            },
        )

    def _token_ok(self, token: str, resource: str) -> bool:
        with self.lock:
            issued = self.tokens.get(token)
        return issued is not None and issued[0] == resource and issued[1] > time.time()

    # -- Cosmos DB -----------------------------------------------------------------------------

    def _cosmos(self, req: _Request, parts: list[str]) -> tuple[int, dict[str, str], bytes]:
        auth = urllib.parse.unquote(req.headers.get("authorization", ""))
        fields = dict(p.partition("=")[::2] for p in auth.split("&"))
        if (fields.get("type"), fields.get("ver")) != ("aad", "1.0") or not self._token_ok(
            fields.get("sig", ""), COSMOS
        ):
            return _json(401, {"code": "Unauthorized", "message": "bad AAD token"})
        if req.headers.get("x-ms-version") != "2018-12-31" or not _rfc1123(
            req.headers.get("x-ms-date", "")
        ):
            return _json(400, {"code": "BadRequest", "message": "x-ms-date/x-ms-version"})
        with self.lock:
            if self._throttle > 0:
                self._throttle -= 1
                self.throttled += 1
                return _json(429, {"code": "TooManyRequests"}, {"x-ms-retry-after-ms": "20"})
        container = self.containers.get((parts[1], parts[3]))
        if container is None:
            return _json(404, {"code": "NotFound", "message": "no such container"})
        try:
            pk_values = json.loads(req.headers.get("x-ms-documentdb-partitionkey", ""))
        except ValueError:
            pk_values = None
        if not (isinstance(pk_values, list) and len(pk_values) == 1):
            return _json(400, {"code": "BadRequest", "message": "partition key header"})
        pk = str(pk_values[0])
        doc_id = urllib.parse.unquote(parts[5]) if len(parts) == 6 else None
        write = req.method != "GET"
        fault = write and self._rng.random() < self.cosmos_faults
        if fault and self._rng.random() < 0.5:
            return _json(503, {"code": "ServiceUnavailable"})
        with self.lock:
            answer = self._cosmos_op(req, container, pk, doc_id)
            if fault:
                self.cosmos_faults_applied += 1
                return _json(503, {"code": "ServiceUnavailable"})  # applied, then "failed"
        return answer

    def _cosmos_op(
        self, req: _Request, container: Container, pk: str, doc_id: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        key_field = container.pk_path.lstrip("/")
        if req.method == "POST" and doc_id is None:
            doc = json.loads(req.body)
            if not isinstance(doc.get("id"), str) or _BAD_ID_CHARS & set(doc["id"]):
                return _json(400, {"code": "BadRequest", "message": "invalid id"})
            if str(doc.get(key_field)) != pk:
                return _json(400, {"code": "BadRequest", "message": "partition key mismatch"})
            existing = self._live(container, pk, doc["id"])
            upsert = req.headers.get("x-ms-documentdb-is-upsert", "").lower() == "true"
            if existing is not None and not upsert:
                return _json(409, {"code": "Conflict", "message": "id exists"})
            return self._store(container, pk, doc, 200 if existing is not None else 201)
        if doc_id is None:
            return _json(405, {"code": "MethodNotAllowed"})
        existing = self._live(container, pk, doc_id)
        if existing is None:
            return _json(404, {"code": "NotFound"})
        if_match = req.headers.get("if-match")
        if req.method == "GET":
            return _json(200, existing, {"etag": existing["_etag"]})
        if if_match is not None and if_match != existing["_etag"]:
            return _json(412, {"code": "PreconditionFailed"})
        if req.method == "DELETE":
            del container.docs[(pk, doc_id)]
            return 204, {}, b""
        if req.method == "PUT":
            doc = json.loads(req.body)
            if doc.get("id") != doc_id or str(doc.get(key_field)) != pk:
                return _json(400, {"code": "BadRequest", "message": "id or partition key"})
            return self._store(container, pk, doc, 200)
        return _json(405, {"code": "MethodNotAllowed"})

    def _live(self, container: Container, pk: str, doc_id: str) -> dict[str, Any] | None:
        doc = container.docs.get((pk, doc_id))
        if doc is None or _expired(container, doc):
            return None
        return doc

    def _store(
        self, container: Container, pk: str, doc: dict[str, Any], status: int
    ) -> tuple[int, dict[str, str], bytes]:
        stored = {k: v for k, v in doc.items() if not k.startswith("_")}
        stored.update(
            _rid=uuid.uuid4().hex[:12],
            _self=f"dbs/x/colls/y/docs/{stored['id']}",
            _etag=f'"{uuid.uuid4()}"',
            _attachments="attachments/",
            _ts=int(time.time()),
        )
        container.docs[(pk, stored["id"])] = stored
        return _json(status, stored, {"etag": stored["_etag"]})

    # -- Service Bus ---------------------------------------------------------------------------

    def _servicebus(self, req: _Request, parts: list[str]) -> tuple[int, dict[str, str], bytes]:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self._token_ok(auth[7:], SERVICEBUS):
            return _json(401, {"error": "bad bearer token"})
        queue = self.queues.get(parts[0])
        if queue is None:
            return _json(410, {"error": "no such queue"})
        if len(parts) == 2 and req.method == "POST":
            size = len(req.body) + len(req.headers.get("brokerproperties", ""))
            if size > queue.max_message_bytes:
                return _json(413, {"error": f"MessageSizeExceeded: {size} bytes"})
            props = json.loads(req.headers.get("brokerproperties", "{}"))
            with self.lock:
                self._sequence += 1
                queue.messages.append(
                    Message(
                        req.body,
                        str(props.get("MessageId") or uuid.uuid4().hex),
                        self._sequence,
                        time.time(),
                    )
                )
                self.lock.notify_all()
            return 201, {}, b""
        if len(parts) == 3 and parts[2] == "head" and req.method == "POST":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
            return self._peek_lock(req, parts[0], queue, float(query.get("timeout", ["60"])[0]))
        if len(parts) == 4:
            return self._settle(req.method, queue, parts[2], parts[3])
        return _json(405, {"error": "unsupported"})

    def _peek_lock(
        self, req: _Request, name: str, queue: Queue, timeout_s: float
    ) -> tuple[int, dict[str, str], bytes]:
        end = time.monotonic() + timeout_s
        with self.lock:
            while True:
                self._sweep(queue)
                message = next((m for m in queue.messages if m.lock_token is None), None)
                if message is not None:
                    break
                left = end - time.monotonic()
                if left <= 0:
                    return 204, {}, b""
                self.lock.wait(min(left, 0.05))
            message.delivery_count += 1
            message.lock_token = str(uuid.uuid4())
            message.locked_until = time.time() + queue.lock_duration_s
            props = {
                "DeliveryCount": message.delivery_count,
                "EnqueuedSequenceNumber": message.sequence_number,
                "EnqueuedTimeUtc": email.utils.formatdate(message.enqueued_at, usegmt=True),
                "LockToken": message.lock_token,
                "LockedUntilUtc": email.utils.formatdate(message.locked_until, usegmt=True),
                "MessageId": message.message_id,
                "SequenceNumber": message.sequence_number,
                "State": "Active",
                "TimeToLive": 1209600,
            }
            host = req.headers.get("host", f"127.0.0.1:{self.port}")
            location = (
                f"http://{host}/{name}/messages/{message.sequence_number}/{message.lock_token}"
            )
        return (
            201,
            {
                "BrokerProperties": json.dumps(props),
                "Location": location,
                "Content-Type": "application/json",
            },
            message.body,
        )

    def _settle(
        self, method: str, queue: Queue, ident: str, lock_token: str
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self._sweep(queue)
            message = next(
                (
                    m
                    for m in queue.messages
                    if ident in (m.message_id, str(m.sequence_number))
                    and m.lock_token == lock_token
                ),
                None,
            )
            if message is None:
                return _json(404, {"error": "no message with this id and lock token"})
            if method == "DELETE":
                queue.messages.remove(message)
                queue.completed.append(message)
            elif method == "PUT":
                self._release(queue, message)
            elif method == "POST":
                message.locked_until = time.time() + queue.lock_duration_s
                queue.renewals += 1
            else:
                return _json(405, {"error": "unsupported"})
            self.lock.notify_all()
        return 200, {}, b""

    def _release(self, queue: Queue, message: Message) -> None:
        message.lock_token = None
        if message.delivery_count >= queue.max_delivery_count:
            message.dead_letter_reason = "MaxDeliveryCountExceeded"
            queue.messages.remove(message)
            queue.dead_letters.append(message)

    def _sweep(self, queue: Queue) -> None:
        now = time.time()
        for message in list(queue.messages):
            if message.lock_token is not None and message.locked_until <= now:
                self._release(queue, message)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many workers and threads connect at once


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _expired(container: Container, doc: dict[str, Any]) -> bool:
    if container.default_ttl is None:
        return False  # TTL off for the container: per-item ttl is ignored
    ttl = int(doc.get("ttl", container.default_ttl))
    return ttl != -1 and int(doc["_ts"]) + ttl <= time.time()


def _rfc1123(value: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(value) is not None and value.endswith("GMT")
    except (TypeError, ValueError):
        return False


def _json(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


def _handler(fake: FakeAzure) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            req = _Request(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            path = urllib.parse.urlsplit(self.path).path
            parts = [p for p in path.split("/") if p]
            if path == "/msi/token" and self.command == "GET":
                status, headers, body = fake._identity(req)
            elif (
                len(parts) >= 5 and parts[0] == "dbs" and parts[2] == "colls" and parts[4] == "docs"
            ):
                status, headers, body = fake._cosmos(req, parts)
            elif len(parts) >= 2 and parts[1] == "messages":
                status, headers, body = fake._servicebus(req, parts)
            else:
                status, headers, body = _json(404, {"error": "no such route"})
            with fake.lock:
                fake.requests.append((self.command, path, status))
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                return  # the client went away (a killed worker)

        do_GET = do_POST = do_PUT = do_DELETE = _any

    Handler.server_version = "FakeAzure/1.0"
    return Handler


def _jwt(audience: str, expires_on: int) -> str:
    """A token shaped as Entra ID issues them (unsigned): Azurite's OAuth mode reads its claims."""
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-00000000fa4e/",
        "iat": now,
        "nbf": now - 60,
        "exp": expires_on,
        "jti": uuid.uuid4().hex,
    }
    parts = [{"alg": "none", "typ": "JWT"}, claims]
    encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=") for p in parts]
    return b".".join([*encoded, b"sig"]).decode()
