"""``svai build``: real artifacts from a real scikit-learn model, checked by running them."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from svai import api
from svai.cli.main import main
from svai.errors import SpecError, ToolMissingError, UsageError

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-5f0d1c9e-never-in-artifacts"
HOSTILE = (
    "x\"'\n\r\x00{{7*7}} {% raw %}${PATH}`id`$(id) __import__('os').system('id') \\\" \u2028 # EOF"
)

# What ships is the whole svai.runtime package, derived from it (svai.build.target).
RUNTIME_FILES = {
    "svai/__init__.py",
    *(p.relative_to(ROOT).as_posix() for p in (ROOT / "svai/runtime").rglob("*.py")),
}
USER_FILES = {
    "model.onnx",
    "svai_runtime.json",
    "openapi.json",
    "src/pre.py",
    "src/post.py",
    "src/rules.py",
}


SPEC = """\
version: 1
name: iris
description: {description}
model:
  artifact: model/iris.pkl
  framework: sklearn
  task: classification
  trust: {{pickle: true, sha256: {sha256}}}
  preprocess: src/pre.py:prepare
  postprocess: src/post.py:to_response
  fallback: {{rules: src/rules.py:answer}}
  {optimize}
api:
  input_schema: schemas/input.json
  max_payload: 64KB
latency: {{p95: 200ms}}
traffic: {{pattern: steady, baseline_rps: 2}}
rollout:
  gates: {{eval_set: eval/holdout.jsonl, metric: accuracy, min: 0.8}}
security:
  secrets:
    CANARY_TOKEN: {{aws: prod/canary, gcp: canary, azure: vault/canary}}
targets:
{targets}
"""
TARGETS = """\
  - {cloud: aws, region: us-east-1, runtime: faas}
  - {cloud: gcp, region: europe-west1, runtime: container}
"""


def write_project(
    root: Path, *, description: str = "Iris species", optimize: str = "", targets: str = TARGETS
) -> Path:
    """An iris logistic regression (pickled, trusted by sha256), hooks, schema and eval set."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    for folder in ("model", "src", "schemas", "eval"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    blob = pickle.dumps(model, protocol=4)
    (root / "model/iris.pkl").write_bytes(blob)
    (root / "src/pre.py").write_text(
        "def prepare(payload):\n    return {'inputs': payload['inputs']}\n"
    )
    (root / "src/post.py").write_text(
        "def to_response(outputs):\n    return {'species': [o['label'] for o in outputs]}\n"
    )
    (root / "src/rules.py").write_text("def answer(payload):\n    return {'species': [-1]}\n")
    schema = {
        "type": "object",
        "required": ["inputs"],
        "properties": {"inputs": {"type": "array", "items": {"type": "array"}}},
    }
    (root / "schemas/input.json").write_text(json.dumps(schema))
    lines = [
        json.dumps({"input": {"inputs": [x[i].tolist()]}, "expected": int(y[i])})
        for i in range(0, 150, 7)
    ]
    (root / "eval/holdout.jsonl").write_text("\n".join(lines) + "\n")
    spec = root / "svai.yaml"
    spec.write_text(
        SPEC.format(
            description=json.dumps(description),
            sha256=hashlib.sha256(blob).hexdigest(),
            optimize=optimize,
            targets=targets.rstrip("\n"),
        )
    )
    return spec


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``svai`` through ``main`` (its real error handling) under click's CliRunner."""
    runner = CliRunner()
    with runner.isolation(env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode() + err.getvalue().decode()


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    return x, LogisticRegression(max_iter=1000).fit(x, y).predict(x)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def built(project: Path) -> api._package.BuildResult:
    # The canary is in the environment of the build: it must never reach an artifact.
    os.environ["CANARY_TOKEN"] = CANARY
    try:
        return api.build(project, out_dir=project.parent / "out1")
    finally:
        del os.environ["CANARY_TOKEN"]


def by_package(built: api._package.BuildResult, package: str) -> api._package.TargetBuild:
    return next(t for t in built.targets if t.package == package)


def test_layout_and_manifest(project: Path, built: api._package.BuildResult) -> None:
    assert [t.target for t in built.targets] == ["aws-us-east-1", "gcp-europe-west1"]
    zip_target = by_package(built, "zip")
    out = project.parent / "out1"
    assert zip_target.directory == out / "iris" / built.model_version / "aws-us-east-1"
    manifest = json.loads((zip_target.directory / "manifest.json").read_text())
    assert manifest["model_version"] == built.model_version
    on_disk = tree(zip_target.directory)
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(on_disk) - {"manifest.json", "function.zip"}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(on_disk[path]).hexdigest()
        assert entry["bytes"] == len(on_disk[path])
    zipped = on_disk["function.zip"]
    assert manifest["zip"] == {
        "path": "function.zip",
        "sha256": hashlib.sha256(zipped).hexdigest(),
        "bytes": len(zipped),
    }
    assert manifest["model"]["conversion"]["estimator"] == "LogisticRegression"
    assert manifest["remote"] == []
    config = json.loads(on_disk["svai_runtime.json"])
    assert config["model"]["version"] == built.model_version
    assert config["model"]["sha256"] == hashlib.sha256(on_disk["model.onnx"]).hexdigest()
    assert config["api"]["max_payload_bytes"] == 64_000
    assert config["api"]["input_schema"]["required"] == ["inputs"]
    assert config["hooks"] == {
        "preprocess": "src/pre.py:prepare",
        "postprocess": "src/post.py:to_response",
    }
    requirements = on_disk["requirements.txt"].decode().splitlines()[1:]
    import onnxruntime

    assert f"onnxruntime=={onnxruntime.__version__}" in requirements
    assert any(r.startswith("aws-lambda-powertools==") for r in requirements)
    assert any(r.startswith("redis==") for r in requirements)
    assert not any(r.startswith("httptools") for r in requirements)  # a zip runs no server
    # The pickle was converted: scikit-learn is not needed where the artifact runs.
    assert not any("scikit" in r or "sklearn" in r for r in requirements)


def test_zip_holds_exactly_the_runtime(built: api._package.BuildResult) -> None:
    target = by_package(built, "zip")
    with zipfile.ZipFile(target.directory / "function.zip") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert set(names) == RUNTIME_FILES | USER_FILES
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}


def test_zip_runs_as_a_lambda_handler(
    built: api._package.BuildResult, tmp_path: Path, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x, expected = iris
    extracted = tmp_path / "task"
    with zipfile.ZipFile(by_package(built, "zip").directory / "function.zip") as archive:
        archive.extractall(extracted)
    rows = x[[0, 60, 120]].tolist()
    event = {
        "version": "2.0",
        "routeKey": "POST /predict",
        "rawPath": "/predict",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/predict", "sourceIp": "203.0.113.9"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "body": json.dumps({"inputs": rows}),
        "isBase64Encoded": False,
    }
    script = (
        "import json, sys\n"
        "import svai\n"
        "from svai.runtime.entry import aws_lambda\n"
        "from svai.runtime.entry.emulator import LocalContext\n"
        "result = aws_lambda.handler(json.loads(sys.argv[1]), LocalContext())\n"
        "with open(sys.argv[2], 'w') as handle:  # not stdout: the runtime logs there\n"
        "    json.dump({'file': svai.__file__, 'result': result}, handle)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(extracted), "LAMBDA_TASK_ROOT": str(extracted)}
    env.pop("SVAI_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(event), str(tmp_path / "result.json")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "result.json").read_text())
    # The copied runtime ran, not the installed one.
    assert Path(data["file"]).resolve().is_relative_to(extracted.resolve())
    result = data["result"]
    assert result["statusCode"] == 200, result
    body = json.loads(result["body"])
    assert body["outputs"] == {"species": expected[[0, 60, 120]].tolist()}
    assert body["fallback"] is False
    assert body["model_version"] == built.model_version


def test_image_context(built: api._package.BuildResult) -> None:
    target = by_package(built, "image")
    files = tree(target.directory)
    assert set(files) == RUNTIME_FILES | USER_FILES | {
        "Dockerfile",
        ".dockerignore",
        "requirements.txt",
        "manifest.json",
    }
    dockerfile = files["Dockerfile"].decode()
    instructions = _instructions(dockerfile)
    froms = [args for op, args in instructions if op == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS builder")
    for image in froms:
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", image.split()[0])
    assert any(op == "COPY" and args.startswith("--from=builder") for op, args in instructions)
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    health = next(args for op, args in instructions if op == "HEALTHCHECK")
    assert "/healthz" in health
    assert ("EXPOSE", "8080") in instructions
    cmd = json.loads(next(args for op, args in instructions if op == "CMD"))
    assert cmd == ["python", "-m", "svai.runtime.server", "--config", "/app/svai_runtime.json"]
    ignored = files[".dockerignore"].decode().splitlines()
    assert "Dockerfile" in ignored and "manifest.json" in ignored
    # The server's HTTP/1.1 parser and the Redis client ship with it, pinned.
    pinned = files["requirements.txt"].decode().splitlines()[1:]
    assert {line.split("==")[0] for line in pinned} >= {"httptools", "redis", "onnxruntime"}


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """Parse a Dockerfile into (instruction, arguments), joining continued lines."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, args = line.partition(" ")
        result.append((op.upper(), " ".join(args.split())))
    return result


def test_builds_are_byte_identical(project: Path, built: api._package.BuildResult) -> None:
    out2 = project.parent / "out2"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run(
        [sys.executable, "-c", "from svai.cli.main import main; main()", "build", str(project),
         "--out", str(out2)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = tree(project.parent / "out1")
    second = tree(out2)
    assert sorted(first) == sorted(second)
    different = [name for name in first if first[name] != second[name]]
    assert different == []
    assert any(name.endswith("function.zip") for name in first)


def test_no_secret_or_build_path_in_artifacts(
    project: Path, built: api._package.BuildResult
) -> None:
    everything = tree(project.parent / "out1")
    for target in built.targets:
        with (
            zipfile.ZipFile(target.directory / "function.zip")
            if target.zip_bytes
            else _Empty() as z
        ):
            everything.update({f"zip:{n}": z.read(n) for n in z.namelist()})
    for name, data in everything.items():
        assert CANARY.encode() not in data, name
        # Absolute build paths would make artifacts depend on where they were built.
        assert str(project.parent).encode() not in data, name


class _Empty:
    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def namelist(self) -> list[str]:
        return []


def _members(archive: bytes, name: str) -> set[tuple[str, bytes]]:
    """An archive's members as (name, bytes) pairs, but its OpenAPI document."""
    import io
    import tarfile

    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            members = {(n, z.read(n)) for n in z.namelist()}
    else:
        with tarfile.open(fileobj=io.BytesIO(archive)) as t:
            files = [m for m in t.getmembers() if m.isfile()]
            members = {(m.name, t.extractfile(m).read()) for m in files}  # type: ignore[union-attr]
    return {(n, data) for n, data in members if n != "openapi.json"}


def test_hostile_description_is_only_data(
    tmp_path: Path, built: api._package.BuildResult, project: Path
) -> None:
    spec = write_project(tmp_path / "hostile", description=HOSTILE)
    result = api.build(spec, out_dir=tmp_path / "out")
    # The description is not part of the model version: same folder names, comparable trees.
    assert result.model_version == built.model_version
    for target in result.targets:
        plain = by_package(built, target.package).directory
        hostile_files, plain_files = tree(target.directory), tree(plain)
        assert set(hostile_files) == set(plain_files)
        for name, data in hostile_files.items():
            if name.endswith(".py"):
                assert ast.dump(ast.parse(data)) == ast.dump(ast.parse(plain_files[name])), name
            if name in ("Dockerfile", ".dockerignore"):
                assert _instructions(data.decode()) == _instructions(plain_files[name].decode())
            if name == "openapi.json":
                # The API's description is the spec's, carried as a JSON string.
                assert json.loads(data)["info"]["description"] == HOSTILE
                documented = json.loads(plain_files[name])
                assert {**json.loads(data), "info": documented["info"]} == documented
            elif name in ("function.zip", "model.tar.gz"):
                # Archives of the files above (openapi.json included): compared member by member.
                assert _members(data, name) == _members(plain_files[name], name)
            elif name != "manifest.json":
                assert data == plain_files[name], name
        manifest = json.loads(hostile_files["manifest.json"])
        assert manifest["description"] == HOSTILE


def test_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "proj")
    outside = tmp_path / "outside.py"
    outside.write_text("def prepare(payload):\n    return payload\n")
    hook = tmp_path / "proj/src/pre.py"
    hook.unlink()
    hook.symlink_to(outside)
    out = tmp_path / "proj/out"
    # The loader refuses it at its line in svai.yaml, before anything is read or written.
    with pytest.raises(SpecError, match=r"svai.yaml:\d+:\d+: error\[path-escapes\] model.prep"):
        api.build(spec, out_dir=out)
    # Nothing written: no artifact, no half-built folder, and the outside file is untouched.
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    assert outside.read_text() == "def prepare(payload):\n    return payload\n"
    code, output = run_cli("build", str(spec), "--out", str(out))
    assert code == 2
    assert "outside the project" in output and "Traceback" not in output


def test_remote_artifact_is_refused_unpinned_and_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "remote"
    spec = write_project(root)
    text = re.sub(
        r"  artifact: model/iris.pkl\n  framework: sklearn\n",
        "  artifact: s3://acme-models/iris/model.onnx\n  framework: onnx\n",
        spec.read_text(),
    )
    spec.write_text(re.sub(r"  trust: .*\n", "", text))
    with pytest.raises(SpecError, match=r"model\.artifact"):
        api.build(spec, out_dir=tmp_path / "out", target="gcp-europe-west1")
    spec.write_text(
        spec.read_text().replace(
            "framework: onnx\n", f"framework: onnx\n  sha256: '{'4' * 64}'\n", 1
        )
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SVAI_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolMissingError, match="AWS_ACCESS_KEY_ID"):
        api.build(spec, out_dir=tmp_path / "out", target="gcp-europe-west1")
    assert not (tmp_path / "out").exists()


def test_int8_says_when_it_gains_nothing(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "q", optimize="optimize: {quantize: int8}")
    result = api.build(spec, out_dir=tmp_path / "out", target="gcp-europe-west1")
    quant = result.optimisation["quantization"]
    assert quant["requested"] == "int8" and quant["chosen"] == "fp32"
    assert quant["verdict"] == "nothing_to_quantize"
    assert any("gains nothing" in note for note in result.targets[0].notes)


def test_cli_exit_codes(project: Path, tmp_path: Path) -> None:
    code, output = run_cli("build", str(tmp_path / "missing.yaml"))
    assert code == 2 and "Traceback" not in output
    code, output = run_cli("build", str(project), "--target", "aws-mars-1", "--out", str(tmp_path))
    assert code == 2 and "aws-mars-1" in output and "Traceback" not in output
    bad = tmp_path / "bad.yaml"
    bad.write_text(project.read_text().replace("framework: sklearn", "framework: sklearn2"))
    code, output = run_cli("build", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2 and "framework" in output and "Traceback" not in output
    assert not (tmp_path / "o").exists()
    untrusted = tmp_path / "untrusted"
    spec = write_project(untrusted)
    (untrusted / "model/iris.pkl").write_bytes(b"not the trusted pickle")
    code, output = run_cli("build", str(spec), "--out", str(tmp_path / "u"))
    assert code == 2 and "sha256" in output and "Traceback" not in output


def test_zip_over_the_lambda_limit_fails_with_the_sizes(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "big")
    (tmp_path / "big/prompts").mkdir()
    # Random bytes do not compress: the zip ends up above Lambda's 50 MB direct-upload limit.
    (tmp_path / "big/prompts/huge.txt").write_bytes(np.random.default_rng(0).bytes(52_500_000))
    text = spec.read_text().replace(
        "  fallback: {rules: src/rules.py:answer}\n",
        "  fallback: {rules: src/rules.py:answer}\n  prompt_templates: [prompts/huge.txt]\n",
    )
    spec.write_text(text)
    out = tmp_path / "out"
    code, output = run_cli("build", str(spec), "--target", "aws-us-east-1", "--out", str(out))
    assert code == 2, output
    assert re.search(r"the Lambda zip is 50\.\d MiB zipped and 50\.\d MiB unzipped", output)
    assert "Lambda allows 50 MiB zipped (direct upload) and 250 MiB unzipped" in output
    assert "Traceback" not in output
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "p")
    (tmp_path / "p/model/fake.onnx").write_bytes(b"\x00not a model")
    text = re.sub(r"  artifact: model/iris.pkl\n  framework: sklearn\n",
                  "  artifact: model/fake.onnx\n  framework: onnx\n", spec.read_text())  # fmt: skip
    spec.write_text(re.sub(r"  trust: .*\n", "", text))
    code, output = run_cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert code == 2 and "not a valid ONNX model" in output and "Traceback" not in output


def test_paths_that_climb_out_are_refused(tmp_path: Path) -> None:
    from svai.build.package import safe_source

    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src/ok.py").write_text("x = 1\n")
    (tmp_path / "secret.py").write_text("x = 2\n")
    (project / "src/link.py").symlink_to(tmp_path / "secret.py")
    (project / "linkdir").symlink_to(tmp_path)
    assert safe_source(project, "src/ok.py", "hook") == (project / "src/ok.py").resolve()
    assert safe_source(project, "./src/ok.py", "hook") == (project / "src/ok.py").resolve()
    for bad in (
        "../secret.py",
        "src/../../secret.py",
        str(tmp_path / "secret.py"),
        "src/link.py",
        "linkdir/secret.py",
        "svai/runtime/core/service.py",
        "manifest.json",
        "src",
    ):
        with pytest.raises(UsageError):
            safe_source(project, bad, "hook")
    code, output = run_cli("build", str(write_project(tmp_path / "p2")), "--target", "nope")
    assert code == 2 and "Traceback" not in output
    spec = tmp_path / "p2/svai.yaml"
    spec.write_text(spec.read_text().replace("src/pre.py:prepare", "../pre.py:prepare"))
    code, output = run_cli("build", str(spec), "--out", str(tmp_path / "o"))
    assert code == 2 and "no `..`" in output and not (tmp_path / "o").exists()


FUNCTION_RUNNER = """
import json, os, sys
rows = json.loads(sys.argv[2])
if sys.argv[1] == "gcp":
    import functions_framework
    app = functions_framework.create_app("predict", os.path.join(os.getcwd(), "main.py"))
    client = app.test_client()
    ready = client.get("/")
    answer = client.post("/", json={"inputs": rows})
    out = [ready.status_code, answer.status_code, answer.get_json()]
else:
    import azure.functions as func
    import function_app
    fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    ready = fns["healthz"](func.HttpRequest(method="GET", url="/healthz", body=b""))
    answer = fns["predict"](func.HttpRequest(
        method="POST", url="/predict", body=json.dumps({"inputs": rows}).encode(),
        headers={"content-type": "application/json"}))
    out = [ready.status_code, answer.status_code, json.loads(answer.get_body())]
import svai
out.append(svai.__file__)
with open(sys.argv[3], "w") as handle:  # not stdout: the runtime logs there
    json.dump(out, handle)
"""


def test_gcp_and_azure_function_zips_run_on_their_frameworks(
    tmp_path: Path, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x, expected = iris
    targets = (
        "  - {cloud: gcp, region: europe-west1, runtime: faas}\n"
        "  - {cloud: azure, region: westeurope, runtime: faas}\n"
    )
    spec = write_project(tmp_path / "fn", targets=targets)
    result = api.build(spec, out_dir=tmp_path / "out")
    assert [(t.target, t.package) for t in result.targets] == [
        ("gcp-europe-west1", "zip"),
        ("azure-westeurope", "zip"),
    ]
    entry = {"gcp": {"main.py"}, "azure": {"function_app.py", "host.json"}}
    dependency = {"gcp": "functions-framework==", "azure": "azure-functions=="}
    rows = x[[3, 70, 140]].tolist()
    for target in result.targets:
        cloud = target.target.split("-")[0]
        extracted = tmp_path / f"{cloud}-task"
        with zipfile.ZipFile(target.directory / "function.zip") as archive:
            names = set(archive.namelist())
            archive.extractall(extracted)
        # The platform's own entry point, and the requirements to install.
        assert names == RUNTIME_FILES | USER_FILES | entry[cloud] | {"requirements.txt"}
        requirements = (extracted / "requirements.txt").read_text()
        assert dependency[cloud] in requirements and "powertools" not in requirements
        env = {**os.environ, "PYTHONPATH": str(extracted)}
        done = subprocess.run(
            [sys.executable, "-c", FUNCTION_RUNNER, cloud, json.dumps(rows), str(tmp_path / "r")],
            env=env, cwd=extracted, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        ready, status, body, svai_file = json.loads((tmp_path / "r").read_text())
        assert (ready, status) == (200, 200), body
        assert body["outputs"] == {"species": expected[[3, 70, 140]].tolist()}
        assert body["model_version"] == result.model_version
        assert Path(svai_file).resolve().is_relative_to(extracted.resolve())


def test_aws_endpoint_target_ships_a_code_zip_and_a_model_tarball(tmp_path: Path) -> None:
    # A SageMaker target: the container context, plus the zip its proxy Lambda runs from (code
    # and config, no model) and model.tar.gz (the versioned artifact / SageMaker model data).
    import io
    import tarfile

    targets = "  - {cloud: aws, region: us-east-1, overrides: {offering: aws.sagemaker.realtime}}\n"
    project = write_project(tmp_path / "p", targets=targets)
    first = api.build(project, out_dir=tmp_path / "one").targets[0]
    again = api.build(project, out_dir=tmp_path / "two").targets[0]
    assert first.package == "model"
    names = set(zipfile.ZipFile(first.directory / "function.zip").namelist())
    assert "svai/runtime/entry/sagemaker_proxy.py" in names
    assert "svai/runtime/entry/jobs.py" in names
    assert "model.onnx" not in names
    with tarfile.open(fileobj=io.BytesIO((first.directory / "model.tar.gz").read_bytes())) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"model.onnx", "svai_runtime.json", "src/pre.py"} <= set(members)
    assert all(m.mtime == 0 and m.uid == 0 for m in members.values())
    for name in ("function.zip", "model.tar.gz", "Dockerfile"):
        assert (first.directory / name).read_bytes() == (again.directory / name).read_bytes()


def test_int8_builds_of_a_matmul_model_are_byte_identical(tmp_path: Path) -> None:
    # An MLP has MatMul weights worth quantising; the decision and the manifest must not depend
    # on a timed speed ratio, or two builds of the same inputs would differ.
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    spec = write_project(
        tmp_path / "mlp", optimize="optimize: {quantize: int8, max_accuracy_drop: 0.05}"
    )
    x, y = load_iris(return_X_y=True)
    model = MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=0).fit(x, y)
    blob = pickle.dumps(model, protocol=4)
    (spec.parent / "model/iris.pkl").write_bytes(blob)
    text = re.sub(
        r"sha256: [0-9a-f]{64}", f"sha256: {hashlib.sha256(blob).hexdigest()}", spec.read_text()
    )
    spec.write_text(text)
    one = api.build(spec, out_dir=tmp_path / "one", target="gcp-europe-west1")
    two = api.build(spec, out_dir=tmp_path / "two", target="gcp-europe-west1")
    quant = one.optimisation["quantization"]
    assert quant["requested"] == "int8" and quant["verdict"] in ("quantized", "accuracy_drop")
    assert "x as fast" not in quant["message"]
    assert tree(one.targets[0].directory) == tree(two.targets[0].directory)


def test_vendored_dependencies_are_built_for_each_platform_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wheels with C extensions load only in the interpreter they were built for: the Lambda
    # runtime the AWS backend picks, and the Flex Consumption version the Azure backend sets.
    from svai.backends.aws.arguments import LAMBDA_RUNTIME
    from svai.backends.azure.services import FLEX_PYTHON
    from svai.build import target as package

    assert f"python{package.LAMBDA_PYTHON}" == LAMBDA_RUNTIME
    assert FLEX_PYTHON == package.AZURE_PYTHON
    asked: list[tuple[str, str]] = []

    def pip_install(requirements: str, staging: Path, python: str) -> dict[str, bytes]:
        asked.append((python, requirements))
        return {"dep/__init__.py": b"VENDORED = True\n"}

    monkeypatch.setattr(package, "_vendor", pip_install)  # no package index in tests
    targets = (
        "  - {cloud: aws, region: us-east-1, runtime: faas}\n"
        "  - {cloud: gcp, region: europe-west1, runtime: faas}\n"
        "  - {cloud: azure, region: westeurope, runtime: faas}\n"
    )
    spec = write_project(tmp_path / "p", targets=targets)
    result = api.build(spec, out_dir=tmp_path / "out", vendor_deps=True)
    names = {
        t.target.split("-")[0]: set(zipfile.ZipFile(t.directory / "function.zip").namelist())
        for t in result.targets
    }
    assert "dep/__init__.py" in names["aws"]
    assert ".python_packages/lib/site-packages/dep/__init__.py" in names["azure"]
    assert not any("dep/" in n for n in names["gcp"])  # Cloud Run functions install themselves
    assert "requirements.txt" in names["gcp"] and "requirements.txt" in names["azure"]
    assert sorted(python for python, _ in asked) == ["3.11", "3.12"]
    assert all("onnxruntime==" in requirements for _, requirements in asked)


@pytest.mark.parametrize(
    ("cloud", "entry"),
    [("gcp", {"main.py"}), ("azure", {"function_app.py", "host.json"})],
)
def test_async_container_targets_ship_a_model_free_zip_for_the_front(
    tmp_path: Path, cloud: str, entry: set[str]
) -> None:
    # The submit/status functions of an async deployment run beside the worker's image.
    region = {"gcp": "europe-west1", "azure": "westeurope"}[cloud]
    spec = write_project(
        tmp_path / cloud,
        targets=f"  - {{cloud: {cloud}, region: {region}, runtime: container}}\n",
    )
    text = spec.read_text().replace("api:\n", "api:\n  mode: async\n", 1)
    spec.write_text(text)
    target = api.build(spec, out_dir=tmp_path / "out").targets[0]
    assert target.package == "image"
    names = set(zipfile.ZipFile(target.directory / "function.zip").namelist())
    assert entry <= names and "requirements.txt" in names
    assert "model.onnx" not in names
    assert {"svai/runtime/entry/jobs.py", f"svai/runtime/cloud/{cloud}.py"} <= names
    # A synchronous container target has no functions beside it, so no zip.
    spec.write_text(text.replace("  mode: async\n", "", 1))
    again = api.build(spec, out_dir=tmp_path / "sync").targets[0]
    assert not (again.directory / "function.zip").exists()
