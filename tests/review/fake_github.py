"""A small GitHub REST API on 127.0.0.1 for the pull-request comment script's tests.

It answers the calls the script makes as GitHub documents them (REST API 2022-11-28):

- ``GET /user``: the authenticated user (200). An app *installation* token (``ghs_…``: the
  workflow's ``GITHUB_TOKEN`` or a GitHub App's token) gets 403 "Resource not accessible by
  integration", as on GitHub; an unknown token gets 401 "Bad credentials".
- ``GET /repos/{owner}/{repo}/issues/{number}/comments``: oldest first, ``per_page`` (default
  30, at most 100) and ``page``, with a ``Link`` header naming the ``next`` and ``last`` pages.
- ``POST /repos/{owner}/{repo}/issues/{number}/comments``: 201 and the new comment, written by
  the token's identity (an installation token writes as ``github-actions[bot]``, type ``Bot``).
- ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``: 200 when the token wrote the comment;
  otherwise 403 "Resource not accessible by integration" (the failure reported for the
  workflow's token on someone else's comment; a token with more rights would overwrite that
  person's text instead, which is as wrong), 404 when there is no such comment.

Every request is recorded (method, path, Authorization header) for the tests to compare.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

INSTALLATION_TOKEN = "ghs_installation_token"
"""An installation token: no ``/user``, comments by the Actions bot."""
BOT = {"login": "github-actions[bot]", "type": "Bot"}
_COMMENTS = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments$")
_COMMENT = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)$")


class FakeGitHub:
    """The state behind the server: users by token, comments by id, and the request log."""

    def __init__(self, repo: str, users: dict[str, str]) -> None:
        """Serve ``repo`` (``owner/name``); ``users`` maps user tokens to their logins."""
        self.repo = repo
        self.users = users
        self.comments: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.url = ""
        self._next_id = 1000

    def add(self, number: int, login: str, body: str, kind: str = "User") -> int:
        """Add a comment by ``login`` to issue ``number``; return its id."""
        self._next_id += 1
        self.comments[self._next_id] = {
            "id": self._next_id,
            "issue": number,
            "body": body,
            "user": {"login": login, "type": kind},
        }
        return self._next_id

    def identity(self, authorization: str) -> dict[str, str] | None:
        """Who a ``Bearer`` token is, or ``None`` for an unknown token."""
        token = authorization.removeprefix("Bearer ")
        if token == INSTALLATION_TOKEN:
            return dict(BOT)
        login = self.users.get(token)
        return {"login": login, "type": "User"} if login else None

    def paths(self) -> list[tuple[str, str]]:
        """The (method, path) of every request so far."""
        return [(method, path) for method, path, _ in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _reply(self, status: int, data: Any, link: str = "") -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(payload)

    def _start(self) -> tuple[dict[str, str] | None, Any]:
        fake = self.server.fake
        auth = self.headers.get("Authorization", "")
        fake.requests.append((self.command, self.path, auth))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        return fake.identity(auth), body

    def _unauthorized(self) -> None:
        self._reply(401, {"message": "Bad credentials", "status": "401"})

    def do_GET(self) -> None:
        who, _ = self._start()
        fake = self.server.fake
        url = urlsplit(self.path)
        if who is None:
            return self._unauthorized()
        if url.path == "/user":
            if who["type"] == "Bot":
                return self._reply(
                    403, {"message": "Resource not accessible by integration", "status": "403"}
                )
            return self._reply(200, {"login": who["login"], "id": 1, "type": "User"})
        found = _COMMENTS.match(url.path)
        if not found or found["repo"] != fake.repo:
            return self._reply(404, {"message": "Not Found", "status": "404"})
        query = parse_qs(url.query)
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        number = int(found["number"])
        listed = [c for _, c in sorted(fake.comments.items()) if c["issue"] == number]
        last = max(1, -(-len(listed) // per_page))
        chunk = listed[(page - 1) * per_page : page * per_page]
        link = ""
        if page < last:
            base = f"{fake.url}{url.path}?per_page={per_page}"
            link = f'<{base}&page={page + 1}>; rel="next", <{base}&page={last}>; rel="last"'
        self._reply(200, [{k: v for k, v in c.items() if k != "issue"} for c in chunk], link)

    def _route(self, pattern: re.Pattern[str]) -> tuple[dict[str, str], re.Match[str], Any] | None:
        """Who asks, the matched path and the body; or ``None`` once 401/404 is answered."""
        who, body = self._start()
        found = pattern.match(self.path)
        if who is None:
            self._unauthorized()
            return None
        if not found or found["repo"] != self.server.fake.repo:
            self._reply(404, {"message": "Not Found", "status": "404"})
            return None
        return who, found, body

    def do_POST(self) -> None:
        routed = self._route(_COMMENTS)
        if routed is None:
            return
        (who, found, body), fake = routed, self.server.fake
        cid = fake.add(int(found["number"]), who["login"], body["body"], who["type"])
        self._reply(201, {k: v for k, v in fake.comments[cid].items() if k != "issue"})

    def do_PATCH(self) -> None:
        routed = self._route(_COMMENT)
        if routed is None:
            return
        who, found, body = routed
        comment = self.server.fake.comments.get(int(found["id"]))
        if comment is None:
            return self._reply(404, {"message": "Not Found", "status": "404"})
        if comment["user"]["login"] != who["login"]:
            return self._reply(
                403, {"message": "Resource not accessible by integration", "status": "403"}
            )
        comment["body"] = body["body"]
        self._reply(200, {k: v for k, v in comment.items() if k != "issue"})

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class _Server(ThreadingHTTPServer):
    fake: FakeGitHub


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """Run ``fake`` on 127.0.0.1 (an ephemeral port, in ``fake.url``) for the ``with`` block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
