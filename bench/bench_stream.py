"""What svai's streaming front adds per chunk, against the engine called directly (issue #20).

One tiny random-weight Llama (2 layers, CPU, fp32), one torch thread everywhere. Arms,
interleaved per round (direct, served; ``--rounds``, default 5):

* **direct**: ``TransformersEngine.stream`` iterated in a child process of its own (the
  same kind of fresh process as the server, so both have the same torch state); the time
  between two pieces with text;
* **served**: the same engine behind svai's real server (a child ``python -m
  svai.runtime.server``), ``POST /v1/chat/completions`` with ``stream: true`` read from a raw
  socket; the time between two ``data:`` events that carry text.

Each round generates ``--tokens`` tokens greedily from the same prompt in both arms. The
figure is the p50 gap served minus the p50 gap direct (target ≤ 2 ms, ``QUALITY.md``), and the
whole request's extra time per token. Results: ``results/stream.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "runtimes" / "engines"))

from bench_gpu import wait_ready  # noqa: E402
from results_log import append_result, spread  # noqa: E402

PROMPT = [{"role": "user", "content": "hello the cat sat on the mat"}]
_TEXT = re.compile(rb'"content":"[^"]')


def _gaps(times: list[float]) -> list[float]:
    return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def served_round(port: int, tokens: int) -> tuple[list[float], float]:
    """Arrival times of text chunks (ms gaps) and the whole request's seconds."""
    body = json.dumps(
        {"messages": PROMPT, "max_tokens": tokens, "temperature": 0, "stream": True}
    ).encode()
    arrivals: list[float] = []
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        buf = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            now = time.perf_counter()
            buf += data
            *events, buf = buf.split(b"\n\n")
            arrivals += [now for e in events if _TEXT.search(e)]
    return _gaps(arrivals), time.perf_counter() - t0


def direct_round(engine: object, ids: list[int], tokens: int) -> tuple[list[float], float]:
    """Arrival times of the engine's text pieces (ms gaps) and the whole run's seconds."""
    from svai.runtime.engines.base import SamplingParams

    arrivals: list[float] = []
    t0 = time.perf_counter()
    params = SamplingParams(max_tokens=tokens, temperature=0.0)
    for piece in engine.stream(ids, params, threading.Event()):  # type: ignore[attr-defined]
        if piece.text:
            arrivals.append(time.perf_counter())
    return _gaps(arrivals), time.perf_counter() - t0


def direct_child(folder: str) -> None:
    """The direct arm's process: a round per ``go`` line on stdin, gaps as JSON on stdout."""
    from svai.runtime.core import parse_config
    from svai.runtime.engines.hf import TransformersEngine

    config = parse_config(_config(Path(folder)))
    engine = TransformersEngine(config.model, config.engine, Path(folder))
    engine.load()
    engine.warmup()
    ids = engine.encode(engine.render_chat(PROMPT, None) or "", special=False)
    print("ready", flush=True)
    for line in sys.stdin:
        gaps, total = direct_round(engine, ids, int(line))
        print(json.dumps({"gaps": gaps, "total": total}), flush=True)


def _config(folder: Path) -> dict[str, object]:
    return {
        "model": {
            "path": str(folder),
            "version": "v-stream",
            "framework": "transformers",
            "task": "text-generation",
        },
        "generation": {"max_tokens": 240},
        "observability": {"log_requests": False},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "stream.json")
    ap.add_argument("--direct-child", metavar="FOLDER")
    args = ap.parse_args()
    if args.direct_child:
        return direct_child(args.direct_child)
    from tiny_llama import save_tiny_llama

    work = Path(tempfile.mkdtemp(prefix="svai-bench-stream-"))
    folder = save_tiny_llama(work / "model")
    (work / "svai_runtime.json").write_text(json.dumps(_config(folder)))
    # One torch thread in both processes: the 2 shared cores are not split differently.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    direct = subprocess.Popen(
        [sys.executable, __file__, "--direct-child", str(folder)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert direct.stdin is not None and direct.stdout is not None
    while direct.stdout.readline().strip() != "ready":
        pass
    port = socket.create_server(("127.0.0.1", 0)).getsockname()[1]
    cmd = [sys.executable, "-m", "svai.runtime.server", "--config", str(work), "--port", str(port)]
    child = subprocess.Popen([*cmd, "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(port, time.monotonic() + 120, child)
        served_round(port, 2)  # the first request pays the cold-start flag, not a round
        direct_gaps: list[float] = []
        served_gaps: list[float] = []
        direct_s: list[float] = []
        served_s: list[float] = []
        for _ in range(args.rounds):
            direct.stdin.write(f"{args.tokens}\n")
            direct.stdin.flush()
            result = json.loads(direct.stdout.readline())
            direct_gaps += result["gaps"]
            direct_s.append(result["total"])
            gaps, total = served_round(port, args.tokens)
            served_gaps += gaps
            served_s.append(total)
    finally:
        child.terminate()
        child.wait(20)
        direct.stdin.close()
        direct.wait(20)
    p50_direct = statistics.median(direct_gaps)
    p50_served = statistics.median(served_gaps)
    per_token = [(s - d) * 1000 / args.tokens for s, d in zip(served_s, direct_s, strict=True)]
    record = {
        "bench": "stream",
        "tokens": args.tokens,
        "rounds": args.rounds,
        "gap_ms_p50": {"direct": round(p50_direct, 4), "served": round(p50_served, 4)},
        "added_ms_per_chunk_p50": round(p50_served - p50_direct, 4),
        "added_ms_per_token_whole_request": spread(per_token),
        "direct_s": spread(direct_s),
        "served_s": spread(served_s),
        "target_added_ms_per_chunk_p50": 2.0,
    }
    append_result(args.out, record)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
