"""A fallback model in any store ships inside the package, and the runtime loads it from there.

``model.fallback.model`` takes the same forms as ``model.artifact``; before, a remote one was
left out of the package without a word and the deployment ran with no fallback. Now the build
fetches it (pinned, through the model cache) into ``fallback/``, the runtime config names that
path, and the packaged runtime loads it and answers with it -- no store reached at serve time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from stores import Seeded
from test_cli_runtime import SPEC, iris, run_cli  # noqa: F401

from svai.runtime.core import Service, load_config
from svai.runtime.entry.stores import STORES


def _project(tmp_path: Path, onnx_bytes: bytes, fallback: str) -> Path:
    (tmp_path / "model").mkdir(parents=True)
    (tmp_path / "model/iris.onnx").write_bytes(onnx_bytes)
    (tmp_path / "src").mkdir()
    (tmp_path / "src/post.py").write_text("def to_response(outputs):\n    return outputs\n")
    spec = tmp_path / "svai.yaml"
    model = f"  task: classification\n  fallback: {{model: '{fallback}'}}\n"
    spec.write_text(SPEC.replace("  task: classification\n", model))
    return spec


def _built(out: Path) -> Path:
    (config,) = out.rglob("svai_runtime.json")
    return config.parent


def test_a_remote_fallback_is_fetched_into_the_package_and_served_from_it(
    store: Seeded,
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    x, expected, onnx_bytes = iris
    uri = store.put(f"fallback/{store.scheme}-small.onnx", onnx_bytes)
    spec = _project(tmp_path / "project", onnx_bytes, uri)
    code, output = run_cli("build", str(spec), "--out", str(tmp_path / "out"))
    if store.scheme == "azure":  # Azurite's blobs carry no version: refused, located, not built
        assert code == 2 and ":7:" in output and "pin the store's version" in output, output
        assert not (tmp_path / "out").exists()
        return
    assert code == 0, output
    folder = _built(tmp_path / "out")
    config = json.loads((folder / "svai_runtime.json").read_text())
    packaged = config["fallback"]["model"]
    # An hf:// location names the file after the repository's commit.
    name = "small.onnx" if store.scheme == "hf" else f"{store.scheme}-small.onnx"
    assert packaged == f"fallback/{name}"
    assert hashlib.sha256((folder / packaged).read_bytes()).hexdigest() == (
        hashlib.sha256(onnx_bytes).hexdigest()
    )
    # The packaged runtime loads the fallback from its own folder (no store at serve time).
    config_file = folder / "svai_runtime.json"
    service = Service.from_config(load_config(config_file), stores=STORES)
    service.load()
    try:
        fallback = service.fallback_model
        assert fallback is not None
        rows = [0, 75, 149]  # one of each class
        answers = fallback.run_batch([fallback.to_feeds(x[rows].tolist())])[0]
        assert answers["label"] == expected[rows].tolist()
    finally:
        service.close()


def test_a_project_folder_fallback_ships_every_file(
    tmp_path: Path,
    iris: tuple[np.ndarray, np.ndarray, bytes],  # noqa: F811
) -> None:
    _, _, onnx_bytes = iris
    spec = _project(tmp_path / "project", onnx_bytes, "small/")
    small = tmp_path / "project" / "small"
    (small / "nested").mkdir(parents=True)
    (small / "model.onnx").write_bytes(onnx_bytes)
    (small / "nested" / "notes.txt").write_text("kept\n")
    code, output = run_cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert code == 0, output
    folder = _built(tmp_path / "out")
    assert json.loads((folder / "svai_runtime.json").read_text())["fallback"]["model"] == "small"
    assert (folder / "small" / "model.onnx").read_bytes() == onnx_bytes
    assert (folder / "small" / "nested" / "notes.txt").read_text() == "kept\n"
