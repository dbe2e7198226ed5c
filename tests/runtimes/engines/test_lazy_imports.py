"""Engines cost nothing until an engine loads: ONNX artifacts keep their cold start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_importing_the_server_and_engines_imports_no_torch_or_transformers() -> None:
    code = (
        "import sys\n"
        "import svai.runtime.server.main, svai.runtime.server.openai\n"
        "import svai.runtime.engines, svai.runtime.engines.hf, svai.runtime.engines.vllm\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'safetensors') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
