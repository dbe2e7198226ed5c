"""Version ids of the inputs ``tests/compiler/test_lower_version.py`` does not vary.

That file covers the model bytes, preprocess code, prompt templates and config; here the
postprocess hook, the fallback rules and the input schema — each must give a new id — and a
rollback target keeping its own id in the plan it is routed to.
"""

from __future__ import annotations

from pathlib import Path

from svai.compiler.version import model_version
from svai.spec import load_spec_text, resolve

SPEC = """\
version: 1
name: scorer
model:
  artifact: model.onnx
  framework: onnx
  postprocess: src/post.py:format
  fallback: {rules: src/rules.py:answer}
api: {input_schema: schemas/input.json}
latency: {p95: 300ms}
traffic: {pattern: steady, baseline_rps: 5}
targets: [{cloud: aws, region: us-east-1}]
"""


def test_postprocess_fallback_and_input_schema_each_change_the_id(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "model.onnx").write_bytes(b"model")
    (tmp_path / "src" / "post.py").write_text("def format(y):\n    return y\n")
    (tmp_path / "src" / "rules.py").write_text("def answer(x):\n    return 0\n")
    (tmp_path / "schemas" / "input.json").write_text('{"type": "object"}')
    spec = resolve(load_spec_text(SPEC))
    first = model_version(spec, tmp_path)
    assert first == model_version(spec, tmp_path)
    seen = {first}
    for path, text in (
        ("src/post.py", "def format(y):\n    return {'label': y}\n"),
        ("src/rules.py", "def answer(x):\n    return 1\n"),
        ("schemas/input.json", '{"type": "object", "required": ["x"]}'),
    ):
        (tmp_path / path).write_text(text)
        seen.add(model_version(spec, tmp_path))
    assert len(seen) == 4
