"""Shared helpers for the review tests: small single-AWS specs written into tmp folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import goldens

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SVAI = Path(sys.executable).with_name("svai")

BASE_SPEC = """\
version: 1
name: scorer
model:
  artifact: model/model.onnx
  framework: onnx
  size: 2MB
  memory: 256MiB
  load_time: 150ms
  inference_time: 2ms
  preprocess: src/pre.py:prepare
latency: {p95: 100ms, p99: 250ms}
traffic: {pattern: steady, baseline_rps: 5}
targets:
  - {cloud: aws, region: us-east-1}
"""
"""A small sync scorer on one AWS target; the diff cases edit it."""

PRE_PY = "def prepare(payload):\n    return payload\n"


def write_project(folder: Path, spec: str, pre: str = PRE_PY) -> Path:
    """Write a spec with its preprocess hook and a stand-in model file; return the spec path."""
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "model").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "pre.py").write_text(pre, encoding="utf-8")
    (folder / "model" / "model.onnx").write_bytes(b"onnx-bytes-for-hashing")
    path = folder / "svai.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def git(repo: Path, *args: str) -> None:
    """Run ``git ARGS`` in ``repo`` as a throwaway committer (the diff and PR-comment cases)."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``golden/name`` (see :mod:`tests.goldens` for the refresh flag)."""
    goldens.check_golden(GOLDEN / name, actual)


def run_main(*args: str) -> tuple[int, str, str]:
    """Run ``svai ARGS`` through ``main`` (its real error handling); return code, stdout, stderr."""
    from click.testing import CliRunner

    from svai.cli.main import main

    with CliRunner().isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()
