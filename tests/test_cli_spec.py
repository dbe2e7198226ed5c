"""The spec commands from the user's side: `svai validate`, `svai schema`, `svai init`, help.

Commands run through click's CliRunner isolation and ``svai.cli.main.main`` (so user errors are
handled exactly as the console script handles them); two tests run the real console script in a
subprocess, for the exit status the shell sees and for what gets imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from svai import __version__
from svai.cli.main import main
from svai.spec import load_spec, resolve

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*/svai.yaml"))
CASES = sorted((REPO / "tests" / "spec" / "cases").glob("*.yaml"))
INVALID = [c for c in CASES if not c.stem.startswith("valid-")]
SVAI = Path(sys.executable).with_name("svai")


class Result:
    """What one CLI run produced."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def svai(*args: str) -> Result:
    """Run ``svai ARGS`` in-process as the console script does: ``sys.exit(main(argv))``."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            returned = main(list(args))
            code = returned if isinstance(returned, int) else 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def no_traceback(result: Result) -> None:
    for text in (result.out, result.err):
        assert "Traceback" not in text
        assert 'File "' not in text


# ---- validate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
def test_validate_accepts_every_example(example: Path) -> None:
    result = svai("validate", str(example))
    assert result.code == 0, result.err
    spec = load_spec(example)
    assert result.out.startswith(f"{example}: valid ({spec.name}; targets: ")
    assert result.err == ""
    assert resolve(spec).targets


def test_there_are_four_examples_with_readmes() -> None:
    names = {e.parent.name for e in EXAMPLES}
    assert {"fraud-sklearn", "minilm-embeddings", "llm-gpu", "doc-pipeline-async"} <= names
    for example in EXAMPLES:
        assert (example.parent / "README.md").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("case", INVALID, ids=[c.stem for c in INVALID])
def test_validate_prints_the_expected_located_errors(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(case.parent.parent)
    relative = f"cases/{case.name}"
    result = svai("validate", relative)
    expected = case.with_suffix(".expected").read_text(encoding="utf-8")
    count = sum(line.startswith(relative) for line in expected.splitlines())
    assert result.code == 2
    assert result.out == ""
    assert result.err == expected + f"{relative}: {count} problem{'s' if count != 1 else ''}\n"
    no_traceback(result)


def test_validate_defaults_to_svai_yaml_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "svai.yaml").write_bytes(EXAMPLES[0].read_bytes())
    assert svai("validate").code == 0


def test_validate_missing_file_is_a_clean_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = svai("validate", str(missing))
    assert result.code == 2
    assert f"{missing}:0:0: error[file-not-found] no such file: {missing}" in result.err
    assert "svai init" in result.err
    no_traceback(result)


def test_validate_a_folder_is_a_clean_exit_2(tmp_path: Path) -> None:
    result = svai("validate", str(tmp_path))
    assert result.code == 2
    no_traceback(result)


def test_validate_json_for_a_valid_spec() -> None:
    result = svai("validate", "--format", "json", str(EXAMPLES[0]))
    assert result.code == 0
    assert json.loads(result.out) == {"valid": True, "file": str(EXAMPLES[0]), "diagnostics": []}


def test_validate_json_for_an_invalid_spec(tmp_path: Path) -> None:
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        "version: 1\nname: demo\nlatncy: {p95: 200}\n"
        "model: {artifact: m.onnx, framework: onnx}\n"
        "traffic: {pattern: steady, baseline_rps: 1}\n"
        "targets: [{cloud: aws, region: no}]\n",
        encoding="utf-8",
    )
    result = svai("validate", str(spec), "--format", "json")
    assert result.code == 2
    report = json.loads(result.out)
    assert report["valid"] is False and report["file"] == str(spec)
    fields = {"code", "severity", "file", "line", "col", "path", "message", "hint"}
    assert all(set(d) == fields for d in report["diagnostics"])
    assert [(d["code"], d["line"], d["col"], d["path"]) for d in report["diagnostics"]] == [
        ("unknown-field", 3, 1, "latncy"),
        ("wrong-type", 6, 32, "targets[0].region"),
    ]
    assert report["diagnostics"][0]["hint"] == "did you mean `latency`?"


def test_validate_rejects_an_unknown_format() -> None:
    result = svai("validate", "--format", "xml", str(EXAMPLES[0]))
    assert result.code == 2
    assert "xml" in result.err
    no_traceback(result)


# ---- schema, init, version, help --------------------------------------------------------------


def test_schema_prints_the_committed_json_schema() -> None:
    result = svai("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert result.out == (REPO / "svai" / "spec" / "svai.schema.json").read_text(encoding="utf-8")


def test_init_writes_a_spec_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "My Project_2"
    project.mkdir()
    monkeypatch.chdir(project)
    result = svai("init")
    assert result.code == 0, result.err
    text = (project / "svai.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=")
    spec = load_spec(project / "svai.yaml")
    assert spec.name == "my-project-2"
    assert svai("validate").code == 0


def test_init_with_a_name_and_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "spec.yaml"
    assert svai("init", "--name", "fraud", "--file", str(target)).code == 0
    assert load_spec(target).name == "fraud"


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "svai.yaml"
    target.write_text("# mine\n", encoding="utf-8")
    result = svai("init", "--file", str(target))
    assert result.code == 2
    assert "--force" in result.err
    assert target.read_text(encoding="utf-8") == "# mine\n"
    no_traceback(result)
    assert svai("init", "--file", str(target), "--force").code == 0
    assert load_spec(target).version == 1


def test_init_refuses_a_bad_name(tmp_path: Path) -> None:
    result = svai("init", "--name", "Bad_Name", "--file", str(tmp_path / "svai.yaml"))
    assert result.code == 2
    assert not (tmp_path / "svai.yaml").exists()
    no_traceback(result)


def test_version() -> None:
    result = svai("--version")
    assert result.code == 0
    assert result.out.strip() == f"svai, version {__version__}"


def test_help_lists_the_commands_and_exit_codes() -> None:
    result = svai("--help")
    assert result.code == 0
    for command in ("init", "validate", "schema", "plan", "apply"):
        assert f"  {command} " in result.out
    assert "Exit codes:" in result.out
    for code in ("0  success", "1  the command ran", "2  invalid input", "3  a required tool"):
        assert code in result.out


def test_validate_help_documents_exit_codes() -> None:
    result = svai("validate", "--help")
    assert result.code == 0
    assert "Exits 0 when the spec is valid and 2 when it is not" in " ".join(result.out.split())


def test_unknown_command_is_exit_2() -> None:
    result = svai("frobnicate")
    assert result.code == 2
    no_traceback(result)


# ---- the real console script ------------------------------------------------------------------

IMPORT_PROBE = """
import sys
from svai.cli.main import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in
               {"pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_azure_native", "torch",
                "onnxruntime", "sklearn", "boto3", "jinja2"})
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["validate", "EXAMPLE"], 0),
        (["validate", "missing.yaml"], 2),
        (["schema"], 0),
    ],
)
def test_spec_commands_import_no_cloud_sdk(args: list[str], code: int, tmp_path: Path) -> None:
    argv = [str(EXAMPLES[0]) if a == "EXAMPLE" else a for a in args]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr  # the command did its work, not just imports
    heavy = next(line for line in done.stderr.splitlines() if line.startswith("HEAVY="))
    assert heavy == "HEAVY=", heavy


@pytest.mark.skipif(not SVAI.exists(), reason="the svai console script is not installed")
def test_console_script_exit_codes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ok = subprocess.run(
        [SVAI, "validate", str(EXAMPLES[0])], capture_output=True, env=env, check=False
    )
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "svai.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    refused = subprocess.run(
        [SVAI, "validate", str(bad)], capture_output=True, text=True, env=env, check=False
    )
    assert refused.returncode == 2
    assert f"{bad}:1:10: error[invalid-value] version:" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = subprocess.run(
        [SVAI, "validate", str(tmp_path / "x.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
