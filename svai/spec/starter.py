"""The commented starter ``svai.yaml`` written by ``svai init``."""

from __future__ import annotations

from svai.spec.schema import SCHEMA_PATH

__all__ = ["starter_spec"]

_STARTER = """\
# yaml-language-server: $schema={schema}
# svai.yaml: one model, its latency and traffic, and where to deploy it.
# `svai validate` checks this file; `svai recommend` and `svai plan` show what it becomes.
version: 1
name: {name}

model:
  artifact: ./model/model.onnx      # relative path, s3://, gs://, azureml:// or hf://org/name@rev
  framework: onnx                   # onnx | sklearn | xgboost | lightgbm | pytorch | transformers | custom
  # size: 40MB                      # declared artifact size; `svai bench` measures it
  # inference_time: 5ms             # declared warm latency of one prediction
  # preprocess: src/pre.py:prepare
  # fallback: {{rules: src/rules.py:answer}}

api:
  mode: auto                        # sync | async | auto (the recommender decides)
  max_payload: 256KB
  auth: iam                         # iam | api-key | jwt | none

latency:
  p95: 200ms
  p99: 500ms

traffic:
  pattern: spiky                    # steady | spiky | diurnal | batch | profile
  baseline_rps: 2
  peak_rps: 50
  peak_duration: 30m                # total peak time per day

observability:
  budget_usd_month: 200

targets:
  - {{cloud: aws, region: us-east-1}}
  # - {{cloud: gcp, region: us-central1, project: my-project}}
  # - {{cloud: azure, region: eastus}}
"""


def starter_spec(name: str, schema_url: str | None = None) -> str:
    """Return the starter spec text for deployment ``name``."""
    return _STARTER.format(name=name, schema=schema_url or SCHEMA_PATH.as_uri())
