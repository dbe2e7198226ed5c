"""The release tests' small project, whose model can be swapped A -> B (imported by module path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

SPEC = """\
version: 1
name: scorer
model:
  artifact: model.onnx
  framework: onnx
  size: 40MB
  inference_time: 20ms
api: {{mode: sync, timeout: 30s}}
latency: {{p95: 300ms, p99: 800ms}}
traffic: {{pattern: steady, baseline_rps: 5}}
rollout:
{rollout}
targets:
{targets}
"""

CANARY = """\
  strategy: canary
  steps: [10, 50, 100]
  rollback_on: {error_rate: 0.02, p99: 900ms}
  gates: {eval_set: eval.jsonl, metric: f1, min: 0.9, p95: 50ms}
"""

TARGETS = {
    "aws-lambda": "  - {cloud: aws, region: us-east-1, runtime: faas}",
    "aws-sagemaker": "  - {cloud: aws, region: us-east-1, overrides: {offering: aws.sagemaker.realtime}}",
    "gcp-cloudrun": "  - {cloud: gcp, region: us-central1, runtime: container}",
    "azure-containerapps": "  - {cloud: azure, region: eastus, runtime: container}",
    "gcp-vertex": "  - {cloud: gcp, region: us-central1, runtime: endpoint}",
    "azure-ml": "  - {cloud: azure, region: eastus, runtime: endpoint}",
}

Project = Callable[..., Path]


def write_project(
    folder: Path, *, targets: str = "aws-lambda", rollout: str = CANARY, model: bytes = b"A"
) -> Path:
    """Write ``svai.yaml`` and its files; return its path.

    ``targets`` is a comma-separated list of :data:`TARGETS` keys, or YAML target lines.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = targets.split(",")
    lines = "\n".join(TARGETS[t] for t in names) if set(names) <= set(TARGETS) else targets
    spec = folder / "svai.yaml"
    spec.write_text(SPEC.format(rollout=rollout.rstrip("\n"), targets=lines))
    (folder / "model.onnx").write_bytes(b"\x08\x07model-" + model)
    (folder / "eval.jsonl").write_text('{"input": {"x": [1, 2]}, "expected": 1}\n')
    return spec


def swap_model(spec: Path, model: bytes) -> None:
    """Replace the model artifact: a new model version."""
    (spec.parent / "model.onnx").write_bytes(b"\x08\x07model-" + model)
