"""A loopback stand-in for ``vllm serve``: replays recorded OpenAI SSE streams and error shapes.

Started by the vLLM engine as its child (``SVAI_VLLM_BIN`` points here), with vLLM's own
arguments (``serve FOLDER --host H --port P ...``). The shapes in ``recorded/`` follow vLLM's
OpenAI server (``vllm/entrypoints/openai/protocol.py``): completion chunks, the usage chunk,
``[DONE]``, and both error bodies vLLM has used. What it answers depends on ``max_tokens``:
13 and 14 the two 400 shapes, 15 an error event mid-stream, 100 or more an endless slow
stream (to observe aborts: each closed stream appends a line to ``$REPLAY_ABORTS``), else the
recorded stream. It records every request body in ``$REPLAY_LOG``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).parent / "recorded"
STREAM = (HERE / "vllm_completion_stream.sse").read_bytes()
SHAPES = json.loads((HERE / "vllm_shapes.json").read_text())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {})
        else:
            self._json(200, SHAPES["models"])

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with open(os.environ["REPLAY_LOG"], "a") as log:
            log.write(json.dumps(body) + "\n")
        n = body["max_tokens"]
        if n == 13:
            return self._json(400, SHAPES["bad_request_legacy"])
        if n == 14:
            return self._json(400, SHAPES["bad_request"])
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        events = [e + b"\n\n" for e in STREAM.split(b"\n\n") if e]
        if n == 15:
            events = [
                *events[:2],
                b"data: " + json.dumps(SHAPES["stream_error"]).encode() + b"\n\n",
            ]
        try:
            if n >= 100:
                while True:
                    self._chunk(events[0])
                    time.sleep(0.02)
            for e in events:
                self._chunk(e)
            self._chunk(b"")
        except OSError:
            with open(os.environ["REPLAY_ABORTS"], "a") as aborts:
                aborts.write("aborted\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def main() -> None:
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    with open(os.environ["REPLAY_LOG"], "a") as log:
        log.write(json.dumps({"argv": args}) + "\n")
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
