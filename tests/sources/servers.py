"""Real stores on 127.0.0.1 for the model-source tests and benchmarks.

* S3: a moto server; Cloud Storage: gcp-storage-emulator; Azure Blob: Azurite (npm ``azurite``);
* the Hugging Face hub: :class:`Hub`, a small server speaking the routes huggingface_hub uses
  (``/api/models/{repo}/tree/{rev}``, ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ETag,
  X-Repo-Commit, Content-Length and Range), reached through ``HF_ENDPOINT``;
* :class:`Proxy`: a TCP relay in front of any of them that can cap each connection's rate (the
  benchmarks' 20 MB/s) and counts the bytes it relays (the tests interrupt a download with it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented, well-known development key (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


# ---- S3, Cloud Storage, Azure Blob -----------------------------------------------------------


def start_moto() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def start_gcs() -> tuple[Any, str]:
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    wait_port(port)
    return server, f"http://127.0.0.1:{port}"


def azurite_command() -> str | None:
    return shutil.which("azurite-blob")


def start_azurite(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = azurite_command()
    assert command is not None
    port = free_port()
    process = subprocess.Popen(
        [
            command,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return process, f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"


def azurite_connection(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
    )


# ---- the hub ---------------------------------------------------------------------------------


@dataclass
class Repo:
    commit: str
    files: dict[str, bytes]
    branches: dict[str, str] = field(default_factory=dict)
    private: bool = False


class Hub:
    """A loopback hub: repositories by id, each one commit of files (branches name the commit)."""

    TOKEN = "hf_loopback_token"

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _hub_handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Hub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo: str, files: dict[str, bytes], *, private: bool = False) -> str:
        commit = hashlib.sha1(
            json.dumps(
                sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())
            ).encode()
        ).hexdigest()
        self.repos[repo] = Repo(commit, files, {"main": commit}, private)
        return commit


def _hub_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
                repo_id, rev, inner = "/".join(parts[2:4]), parts[5], "/".join(parts[6:])
                repo = self._repo(repo_id, rev)
                if repo is not None:
                    self._tree(repo, inner, body)
                return
            if len(parts) >= 5 and parts[2] == "resolve":
                repo_id, rev, inner = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                repo = self._repo(repo_id, rev)
                if repo is not None:
                    self._file(repo, inner, body)
                return
            self._error(404, "EntryNotFound", "no such route")

        def _repo(self, repo_id: str, rev: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            authorised = self.headers.get("authorization") == f"Bearer {hub.TOKEN}"
            if repo is None or (repo.private and not authorised):
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            if rev != repo.commit and rev not in repo.branches:
                self._error(404, "RevisionNotFound", "Invalid rev id")
                return None
            return repo

        def _tree(self, repo: Repo, inner: str, body: bool) -> None:
            prefix = f"{inner}/" if inner else ""
            entries = [
                {
                    "type": "file",
                    "oid": hashlib.sha1(data).hexdigest(),
                    "size": len(data),
                    "path": name,
                    "lfs": {
                        "oid": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "pointerSize": 134,
                    },
                }
                for name, data in sorted(repo.files.items())
                if name.startswith(prefix)
            ]
            self._send(
                200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, body
            )

        def _file(self, repo: Repo, inner: str, body: bool) -> None:
            data = repo.files.get(inner)
            if data is None:
                self._error(404, "EntryNotFound", "Entry not found")
                return
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            status, payload = 200, data
            wanted = self.headers.get("range")
            if wanted and wanted.startswith("bytes="):
                first, _, last = wanted[6:].partition("-")
                start, end = int(first or 0), int(last) if last else len(data) - 1
                payload = data[start : end + 1]
                headers["Content-Range"] = f"bytes {start}-{start + len(payload) - 1}/{len(data)}"
                status = 206
            self._send(status, payload, headers, body)

        def _error(self, status: int, code: str, message: str) -> None:
            payload = json.dumps({"error": message}).encode()
            self._send(
                status,
                payload,
                {
                    "X-Error-Code": code,
                    "X-Error-Message": message,
                    "Content-Type": "application/json",
                },
                self.command != "HEAD",
            )

        def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                view = memoryview(payload)
                for start in range(0, len(payload), 1 << 20):
                    self.wfile.write(view[start : start + (1 << 20)])

    return Handler


# ---- a relay that caps and counts -------------------------------------------------------------


class Proxy:
    """Relay 127.0.0.1:<port> to ``upstream``; cap each connection at ``rate`` bytes/s if given."""

    def __init__(self, upstream: str, rate: float | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rate = rate
        self.relayed = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{parsed.scheme}://127.0.0.1:{self.port}{parsed.path}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, downstream: bool) -> None:
        started, sent = time.monotonic(), 0
        try:
            while not self.closed.is_set():
                data = source.recv(1 << 20)
                if not data:
                    break
                sink.sendall(data)
                if downstream:
                    sent += len(data)
                    with self.lock:
                        self.relayed += len(data)
                    if self.rate:
                        # Hold the connection to its cap: sleep until its bytes fit the budget.
                        ahead = sent / self.rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(ahead)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def _serve_file(path: str, rate: str) -> None:
    """``python servers.py PATH RATE``: serve one file by Range behind a capped relay (benchmarks).

    Prints the relay's URL for the file, then serves until killed. Runs in its own process so the
    relay and the store do not share an interpreter lock with what is measured.
    """
    hub = Hub()
    commit = hub.add("bench/model", {"model.bin": Path(path).read_bytes()})
    with hub:
        proxy = Proxy(hub.url, rate=float(rate) or None)
        print(f"{proxy.url}/bench/model/resolve/{commit}/model.bin", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    import sys

    _serve_file(sys.argv[1], sys.argv[2])
