"""GPU cold start and decode speed of the transformers engine (issue #20), in one command.

Builds a random-weight Llama of TinyLlama's shape (1.1B parameters, bf16, 2.2 GB safetensors,
a 32,000-token word-level tokenizer with a chat template) on this machine, then measures,
interleaved (floor, svai, plain; 3 rounds; page cache warm):

* **svai**: a fresh ``python -m svai.runtime.server`` process on the built artifact config;
  time from process start to the first streamed token of ``POST /v1/chat/completions``
  (readiness polled every 10 ms, then the request); the engine's logged components too;
* **plain**: a fresh process doing what a plain server does -- ``from_pretrained`` onto the
  device, ``model.generate`` with a ``TextIteratorStreamer`` behind ``http.server`` -- timed
  the same way;
* **floor**: a fresh process that only pays what cannot be avoided: interpreter start,
  ``import torch``, the CUDA context, the safetensors files read straight to the device, and
  the first forward pass (the model skeleton it needs is built outside the timed parts);

and, in this process, decode tokens/s of the engine's own loop against ``model.generate`` on
the same model object (greedy, 256 new tokens, 3 rounds interleaved).

Targets (``QUALITY.md``): svai's time to first token ≤ 1.3x the floor and ≥ 2.5x faster than
plain; decode ≥ 1.0x ``model.generate``.

Run on a GPU machine (≤ 8 minutes): ``python3 bench/bench_gpu.py``. Here, on CPU with a
2-layer model: ``.venv/bin/python bench/bench_gpu.py --device cpu --tiny``. The svai arm needs
``httptools``; where it is not installed, unpack its wheel into ``bench/.gpu-site`` (added to
the svai process's path; see ``bench/README.md``). Results: ``results/gpu.json`` (``--tiny``:
``results/gpu_tiny_cpu.json``).
"""

from __future__ import annotations

import argparse
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(__file__).with_name(".gpu-site")
PROMPT = [{"role": "user", "content": "w1 w2 w3 w4 w5 w6 w7 w8"}]
_TOKEN = re.compile(rb'"content": ?"[^"]')  # a chunk with text in it (not the role chunk)


# -- the model -------------------------------------------------------------------------------


def build_model(folder: Path, *, tiny: bool, device: str) -> None:
    """Write a random-weight Llama folder (TinyLlama's shape unless ``tiny``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(ROOT / "tests" / "runtimes" / "engines"))
    from tiny_llama import SPECIAL, word_tokenizer

    vocab_size = 512 if tiny else 32_000
    fast = word_tokenizer([f"w{i}" for i in range(vocab_size - len(SPECIAL))])
    vocab = fast.get_vocab()
    shape = (
        {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
        if tiny
        else {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22}
    )
    config = LlamaConfig(
        vocab_size=vocab_size,
        num_attention_heads=32 if not tiny else 4,
        num_key_value_heads=4 if not tiny else 2,
        max_position_embeddings=2048,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=False,
        **shape,
    )
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    with torch.no_grad():  # a random model that never ends by itself: every run decodes in full
        model.lm_head.weight.mul_(50.0)
        model.lm_head.weight[vocab["</s>"]] = 0.0
    model.save_pretrained(folder)
    fast.save_pretrained(folder)


def write_artifact(art: Path, folder: Path, device: str) -> Path:
    """The ``svai_runtime.json`` a GPU build of this folder carries."""
    art.mkdir(parents=True, exist_ok=True)
    cfg = {
        "model": {
            "path": str(folder),
            "version": "v-bench-gpu",
            "framework": "transformers",
            "task": "text-generation",
        },
        "engine": {"device": device, "dtype": "bfloat16" if device == "cuda" else "float32"},
        "generation": {"max_tokens": 512},
        "observability": {"service": "bench-gpu"},
    }
    path = art / "svai_runtime.json"
    path.write_text(json.dumps(cfg))
    return path


# -- the plain server and the floor (run as this script's child modes) ------------------------


def plain_server(folder: str, port: int, device: str) -> None:
    """A plain server: from_pretrained, then model.generate with a streamer over http.server."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    # ``device_map`` needs accelerate; ``.to`` is what a plain server without it does.
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
    tokenizer = AutoTokenizer.from_pretrained(folder)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            ids = tokenizer.apply_chat_template(
                body["messages"], add_generation_prompt=True, return_tensors="pt"
            )
            ids = (ids["input_ids"] if hasattr(ids, "keys") else ids).to(device)
            streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
            kwargs = {"input_ids": ids, "max_new_tokens": body["max_tokens"], "streamer": streamer}
            threading.Thread(target=model.generate, kwargs=kwargs, daemon=True).start()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for text in streamer:
                if text:
                    chunk = {"choices": [{"delta": {"content": text}}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def floor(folder: str, device: str, spawned: float) -> None:
    """Print the unavoidable parts of a cold start, each timed, as one JSON line."""
    t_start = time.time()
    t = time.perf_counter()
    import torch

    parts = {"interpreter_s": t_start - spawned, "import_torch_s": time.perf_counter() - t}
    t = time.perf_counter()
    if device == "cuda":
        torch.empty(1, device="cuda")
    parts["cuda_context_s"] = time.perf_counter() - t
    from safetensors.torch import load_file

    t = time.perf_counter()
    state: dict[str, Any] = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        state.update(load_file(f, device=device))
    if device == "cuda":
        torch.cuda.synchronize()
    parts["weights_s"] = time.perf_counter() - t
    # Not part of the floor: transformers' import and the skeleton (svai overlaps them).
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers before 5.x kept it in modeling_utils
        from transformers.modeling_utils import no_init_weights

    config = AutoConfig.from_pretrained(folder)
    with torch.device(device), no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=next(iter(state.values())).dtype)
    model.load_state_dict(state, strict=False, assign=True)
    t = time.perf_counter()
    with torch.inference_mode():
        model(input_ids=torch.tensor([[1, 10, 11, 12, 13, 14, 15, 16]], device=device))
    if device == "cuda":
        torch.cuda.synchronize()
    parts["first_forward_s"] = time.perf_counter() - t
    parts["floor_s"] = sum(parts.values())
    print(json.dumps(parts), flush=True)


# -- measuring -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, deadline: float, child: subprocess.Popen[Any]) -> None:
    """Poll ``GET /readyz`` every 10 ms until 200 (``RuntimeError`` if ``child`` exits)."""
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with {child.returncode} before it was ready")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError("the server was not ready in time")


def _first_token(port: int, deadline: float, child: subprocess.Popen[bytes]) -> float:
    """Poll readiness every 10 ms, send a streamed chat request, return when a token arrives."""
    wait_ready(port, deadline, child)
    body = json.dumps({"messages": PROMPT, "max_tokens": 16, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        data = b""
        while not _TOKEN.search(data):
            more = s.recv(65536)
            if not more:
                raise RuntimeError(f"stream ended before a token: {data[-300:]!r}")
            data += more
    return time.monotonic()


def run_server_arm(cmd: list[str], port: int, env: dict[str, str]) -> tuple[float, list[str]]:
    """Start ``cmd``; return seconds from spawn to first token, and the child's output lines."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            ttft = _first_token(port, t0 + 300, child) - t0
        except RuntimeError:
            out.seek(0)
            print(out.read().decode("utf-8", "replace")[-3000:], file=sys.stderr)
            raise
        finally:
            child.terminate()
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        out.seek(0)
        lines = out.read().decode("utf-8", "replace").splitlines()
    return ttft, lines


def engine_components(lines: list[str]) -> dict[str, float]:
    """The svai engine's logged load components (``engine loaded`` / ``engine warm`` lines)."""
    found: dict[str, float] = {}
    for line in lines:
        if line.startswith("{") and '"engine' in line:
            rec = json.loads(line)
            if rec.get("message") in ("engine loaded", "engine warm"):
                found.update({k: v for k, v in rec.items() if k.endswith("_s")})
    return found


def decode_speed(folder: Path, device: str, tokens: int, rounds: int) -> dict[str, Any]:
    """Tokens/s of the engine's loop vs ``model.generate`` on the same model, interleaved."""
    import torch

    from svai.runtime.core import parse_config
    from svai.runtime.engines.base import SamplingParams
    from svai.runtime.engines.hf import TransformersEngine

    cfg = parse_config(
        {
            "model": {
                "path": str(folder),
                "version": "v",
                "framework": "transformers",
                "task": "text-generation",
            },
            "engine": {"device": device},
        }
    )
    engine = TransformersEngine(cfg.model, cfg.engine, folder)
    engine.load()
    engine.warmup()
    prompt = engine.render_chat(PROMPT, None) or ""
    ids = engine.encode(prompt, special=False)
    params = SamplingParams(max_tokens=tokens, temperature=0.0)
    input_ids = torch.tensor([ids], device=engine.device)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    svai, generate = [], []
    for _ in range(rounds):
        sync()
        t = time.perf_counter()
        pieces = list(engine.stream(ids, params, threading.Event()))
        sync()
        assert pieces[-1].tokens == tokens, pieces[-1]
        svai.append(tokens / (time.perf_counter() - t))
        t = time.perf_counter()
        with torch.inference_mode():
            out = engine.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
            )
        sync()
        assert out.shape[1] - input_ids.shape[1] == tokens
        generate.append(tokens / (time.perf_counter() - t))
    return {
        "tokens": tokens,
        "svai_tokens_per_s": _spread(svai),
        "generate_tokens_per_s": _spread(generate),
        "ratio": round(statistics.median(svai) / statistics.median(generate), 3),
    }


def _spread(values: list[float]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "bench"))
    from results_log import spread

    return spread(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model (CPU smoke run)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=256, help="decode tokens per round")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--plain-server", nargs=3, metavar=("FOLDER", "PORT", "DEVICE"))
    ap.add_argument("--floor", nargs=3, metavar=("FOLDER", "DEVICE", "SPAWNED"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))  # svai from this checkout (the GPU machine has it nowhere else)
    if args.plain_server:
        folder, port, device = args.plain_server
        return plain_server(folder, int(port), device)
    if args.floor:
        folder, device, spawned = args.floor
        return floor(folder, device, float(spawned))

    work = Path(tempfile.mkdtemp(prefix="svai-bench-gpu-"))
    folder = work / "model"
    t = time.perf_counter()
    build_model(folder, tiny=args.tiny, device=args.device)
    print(f"built {folder} in {time.perf_counter() - t:.1f} s", flush=True)
    config = write_artifact(work / "artifact", folder, args.device)
    for f in folder.glob("*.safetensors"):  # warm page cache for every arm
        f.read_bytes()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    if SITE.is_dir():  # httptools (and friends) unpacked from wheels, for the svai arm
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{SITE}"
    py = sys.executable
    arms: dict[str, list[float]] = {"floor": [], "svai": [], "plain": []}
    floors: list[dict[str, float]] = []
    components: list[dict[str, float]] = []
    for r in range(args.rounds):
        out = subprocess.run(
            [py, __file__, "--floor", str(folder), args.device, repr(time.time())],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        parts = json.loads(out.stdout.strip().splitlines()[-1])
        floors.append(parts)
        arms["floor"].append(parts["floor_s"])
        port = _free_port()
        svai_cmd = [py, "-m", "svai.runtime.server", "--config", str(config), "--port", str(port)]
        svai_cmd += ["--host", "127.0.0.1"]
        ttft, lines = run_server_arm(svai_cmd, port, env)
        arms["svai"].append(ttft)
        components.append(engine_components(lines))
        port = _free_port()
        plain_cmd = [py, __file__, "--plain-server", str(folder), str(port), args.device]
        ttft, _ = run_server_arm(plain_cmd, port, env)
        arms["plain"].append(ttft)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in arms.items()))
    decode = decode_speed(folder, args.device, args.tokens if not args.tiny else 64, args.rounds)
    med = {k: statistics.median(v) for k, v in arms.items()}
    record = {
        "bench": "gpu",
        "device": args.device,
        "gpu": _gpu_name(),
        "model": "tiny 2-layer llama (fp32)" if args.tiny else "random TinyLlama-1.1B shape, bf16",
        "ttft_s": {k: _spread(v) for k, v in arms.items()},
        "floor_components_s": {k: _spread([f[k] for f in floors]) for k in floors[0]},
        "svai_components_s": {
            k: _spread([c[k] for c in components if k in c]) for k in components[0]
        },
        "svai_over_floor": round(med["svai"] / med["floor"], 3),
        "plain_over_svai": round(med["plain"] / med["svai"], 3),
        "decode": decode,
        "targets": {"svai_over_floor": 1.3, "plain_over_svai": 2.5, "decode_ratio": 1.0},
    }
    sys.path.insert(0, str(ROOT / "bench"))
    from results_log import append_result

    name = "gpu_tiny_cpu.json" if args.tiny else "gpu.json"
    path = args.out or ROOT / "bench" / "results" / name
    append_result(path, record)
    print(json.dumps({k: record[k] for k in ("svai_over_floor", "plain_over_svai")}))
    print(json.dumps(record["decode"]))
    print(f"wrote {path}")


def _gpu_name() -> str | None:
    try:
        import torch

        return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None
    except Exception:
        return None


if __name__ == "__main__":
    main()
