"""Raw-socket HTTP helpers for the server tests: send exactly the bytes a test means to send."""

from __future__ import annotations

import socket
import time


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
