"""``requirements.txt`` pins the transitive closure, resolved for the target's Python (#16).

The packages are real wheels written here (a wheel is a zip with a ``.dist-info``), put in the
wheelhouse ``svai serve`` fills, and pip installs the lock offline from it.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from svai import api
from svai.build.lock import lock
from svai.errors import UsageError

# name, version, Requires-Dist: tinyc only on Python >= 3.12 (Lambda's, not the image's),
# tinyd only on Windows, tinye only with the "fast" extra; tinyb needs tinya back (a cycle).
WHEELS = [
    ("tinya", "1.0", ["tinyb>=1.0,<2", 'tinyc; python_version >= "3.12"',
                      'tinyd; sys_platform == "win32"', 'tinye==1.0; extra == "fast"']),
    ("tinyb", "1.0", []),
    ("tinyb", "1.1", ["tinya"]),
    ("tinyb", "2.0", []),  # newer, but outside tinya's range below
    ("tinyc", "2.0", []),
    ("tinyd", "1.0", []),
    ("tinye", "1.0", []),
]  # fmt: skip


def write_wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    info = f"{name}-{version}.dist-info"
    metadata = "".join(
        [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
        + [f"Requires-Dist: {r}\n" for r in requires]
        + (["Provides-Extra: fast\n"] if any("extra" in r for r in requires) else [])
    )
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    folder = tmp_path / "cache" / "wheels"
    folder.mkdir(parents=True)
    for name, version, requires in WHEELS:
        write_wheel(folder, name, version, requires)
    return folder


def locked(text: str) -> list[str]:
    return [line.split("  #")[0] for line in text.splitlines()[1:] if not line.startswith("#")]


def test_the_closure_follows_markers_extras_and_the_target_python(wheelhouse: Path) -> None:
    lambda_lock = lock("tinya==1.0\n", "3.12", wheelhouse)
    assert locked(lambda_lock) == ["tinyb==1.1", "tinyc==2.0"]  # newest tinyb in range; no win32
    assert "tinyb==1.1  # via tinya" in lambda_lock
    assert locked(lock("tinya==1.0\n", "3.11.11", wheelhouse)) == ["tinyb==1.1"]
    with_extra = lock("tinya[fast]==1.0\n", "3.11", wheelhouse)
    assert locked(with_extra) == ["tinyb==1.1", "tinye==1.0"]
    assert lock("tinya==1.0\n", "3.12", wheelhouse) == lambda_lock  # byte-identical


def test_pip_installs_the_lock_offline_and_finds_nothing_missing(
    wheelhouse: Path, tmp_path: Path
) -> None:
    text = lock("tinya==1.0\n", f"{sys.version_info[0]}.{sys.version_info[1]}", wheelhouse)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text)
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    pip = [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python")]
    install = [*pip, "install", "--no-index", "--no-deps", "--find-links", str(wheelhouse)]
    done = subprocess.run([*install, "-r", str(requirements)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    checked = subprocess.run([*pip, "check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Control: without the locked lines pip check names what is missing.
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    bare_pip = [sys.executable, "-m", "pip", "--python", str(bare / "bin" / "python")]
    subprocess.run([*bare_pip, "install", "--no-index", "--no-deps", "--find-links",
                    str(wheelhouse), "tinya==1.0"], check=True, capture_output=True)  # fmt: skip
    missing = subprocess.run([*bare_pip, "check"], capture_output=True, text=True)
    assert missing.returncode != 0 and "tinyb" in missing.stdout


def test_a_pin_nowhere_to_be_read_or_a_conflict_is_refused(wheelhouse: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot lock tinyq==1\.0: it is not installed here"):
        lock("tinyq==1.0\n", "3.12", wheelhouse)
    with pytest.raises(UsageError, match=r"cannot lock tinyb: 2\.0 was chosen, but .*tinya needs"):
        lock("tinyb==2.0\ntinya==1.0\n", "3.12", wheelhouse)


SPEC = """\
version: 1
name: locked
model:
  artifact: model.onnx
  framework: onnx
  requirements: [tinya==1.0]
api: {mode: sync, timeout: 10s}
traffic: {pattern: steady, baseline_rps: 2}
targets:
  - {cloud: aws, region: us-east-1, runtime: faas}
  - {cloud: gcp, region: europe-west1, runtime: container}
"""


def test_a_build_locks_each_target_for_its_own_python(
    wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVAI_CACHE_DIR", str(wheelhouse.parent))
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    project = tmp_path / "project"
    project.mkdir()
    onnx = to_onnx(model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}})
    (project / "model.onnx").write_bytes(onnx.SerializeToString())
    (project / "svai.yaml").write_text(SPEC)
    first = {t.target: t for t in api.build(project / "svai.yaml", out_dir=tmp_path / "a").targets}
    second = {t.target: t for t in api.build(project / "svai.yaml", out_dir=tmp_path / "b").targets}
    zipped = (first["aws-us-east-1"].directory / "requirements.txt").read_text()
    image = (first["gcp-europe-west1"].directory / "requirements.txt").read_text()
    assert {"tinya==1.0", "tinyb==1.1", "tinyc==2.0"} <= set(locked(zipped))
    assert "onnxruntime" in zipped and "protobuf==" in zipped  # the runtime's closure too
    assert {"tinya==1.0", "tinyb==1.1"} <= set(locked(image)) and "tinyc" not in image
    for key, target in first.items():
        for name in ("requirements.txt", "manifest.json"):
            again = second[key].directory / name
            assert (target.directory / name).read_bytes() == again.read_bytes()
