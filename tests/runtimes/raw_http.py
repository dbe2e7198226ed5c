"""Raw-socket HTTP helpers for the server tests (and ``bench/bench_http.py``).

They send exactly the bytes a test means to send: hostile bodies, and keep-alive load that counts
the requests a server loses.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from pathlib import Path


def raw_exchange(
    port: int, data: bytes, timeout: float = 10.0
) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes, read responses until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_responses(sock, timeout)


def read_responses(
    sock: socket.socket, timeout: float, expect: int = 1
) -> list[tuple[int, dict[str, str], bytes]]:
    """Read up to ``expect`` responses (status, lower-case headers, body) within ``timeout``."""
    buf = b""
    out: list[tuple[int, dict[str, str], bytes]] = []
    deadline = time.monotonic() + timeout
    while len(out) < expect and time.monotonic() < deadline:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
            n = int(headers.get("content-length", "0"))
            if len(buf) >= end + 4 + n:
                out.append((int(head[0].split()[1]), headers, buf[end + 4 : end + 4 + n]))
                buf = buf[end + 4 + n :]
                continue
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        buf += chunk
    return out


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident set (``VmHWM``), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def send_hostile(port: int, head: bytes, body_bytes: int) -> bytes:
    """Send ``head`` and then up to ``body_bytes`` of body; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        answer = bytearray()

        def read() -> None:
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    answer.extend(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        block = b"[" * (1 << 20)
        with contextlib.suppress(OSError):  # the server may close before it has it all
            sock.sendall(head)
            for _ in range(body_bytes >> 20):
                sock.sendall(block)
            sock.shutdown(socket.SHUT_WR)
        reader.join(60)
        return bytes(answer)


class KeepAliveClient(threading.Thread):
    """Sends requests on one keep-alive connection until the server says ``Connection: close``.

    Then it reconnects, and stops once the server refuses the connection. A request whose bytes
    went out but whose response never fully came back is counted as lost.
    """

    def __init__(self, port: int, request: bytes) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.request = request
        self.statuses: list[int] = []
        self.lost = 0
        self.closes = 0
        self.refused = False

    def run(self) -> None:
        """Connect, send until told to close, reconnect; stop when refused or a request is lost."""
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            except ConnectionRefusedError:
                self.refused = True
                return
            with sock:
                if not self._session(sock):
                    return

    def _session(self, sock: socket.socket) -> bool:
        buf = b""
        while True:
            try:
                sock.sendall(self.request)
                while b"\r\n\r\n" not in buf:
                    buf += _recv_some(sock)
                head, _, buf = buf.partition(b"\r\n\r\n")
                found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                length = int(found[1]) if found else 0
                while len(buf) < length:
                    buf += _recv_some(sock)
                buf = buf[length:]
            except OSError:
                self.lost += 1
                return False
            self.statuses.append(int(head[9:12]))
            if re.search(rb"(?i)\r\nconnection:\s*close", head):
                self.closes += 1
                return True


def _recv_some(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed before the whole response")
    return chunk
