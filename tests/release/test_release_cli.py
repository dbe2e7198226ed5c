"""``svai versions``, ``svai promote`` and ``svai rollback`` through the CLI, offline."""

from __future__ import annotations

import io
import json
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from svai import release
from svai.cli.main import main
from svai.compiler.release_state import read_state
from tests.release.projects import Project, swap_model

sys.path.insert(0, str(Path(__file__).parents[1] / "sources"))
from servers import start_moto


class Result:
    """What one CLI run produced."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def svai(*args: str) -> Result:
    """Run ``svai ARGS`` in-process as the console script does."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def good_evidence(folder: Path, version: str) -> str:
    path = folder / "evidence.json"
    path.write_text(
        json.dumps(
            {
                "model_version": version,
                "metrics": {"f1": 0.97},
                "samples": 250,
                "p95_s": 0.01,
                "live": {"error_rate": 0.0, "p99_s": 0.1},
            }
        )
    )
    return str(path)


@pytest.fixture
def released(project: Project) -> tuple[Path, str, str]:
    """A spec with A deployed and B's canary at its first step (recorded, not deployed)."""
    spec = project(targets="aws-lambda")
    assert svai("promote", str(spec), "--state-only").code == 0
    a = json.loads(svai("versions", str(spec), "--format", "json").out)["spec_version"]
    swap_model(spec, b"B")
    b = json.loads(svai("versions", str(spec), "--format", "json").out)["spec_version"]
    ev = good_evidence(spec.parent, b)
    assert svai("promote", str(spec), "--state-only", "--evidence", ev).code == 0
    return spec, a, b


def test_promote_dry_run_shows_the_next_step_and_writes_nothing(
    released: tuple[Path, str, str],
) -> None:
    spec, a, b = released
    state_file = spec.parent / ".svai" / "releases" / "scorer-dev.json"
    before = state_file.read_bytes()
    ev = good_evidence(spec.parent, b)
    result = svai("promote", str(spec), "--dry-run", "--evidence", ev)
    assert result.code == 0, result.err
    assert f"step 2/3 (canary 50%): {a} 50%, {b} 50%" in result.out
    assert "aws:lambda/alias:Alias scorer-api-live" in result.out
    assert f'routingConfig: {{"additionalVersionWeights": {{"<{a}>": 0.5}}}}' in result.out
    assert "✓ live gate error_rate <= 0.02: observed 0" in result.out
    assert "not written, nothing deployed" in result.out
    assert state_file.read_bytes() == before


def test_promote_json_and_a_failing_gate_exit_1_with_the_rollback_plan(
    released: tuple[Path, str, str],
) -> None:
    spec, a, b = released
    bad = spec.parent / "bad.json"
    bad.write_text(json.dumps({"model_version": b, "live": {"error_rate": 0.5, "p99_s": 0.1}}))
    result = svai("promote", str(spec), "--dry-run", "--evidence", str(bad), "--format", "json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["gate_failed"] and data["dry_run"] and not data["state_written"]
    assert data["after"]["split"] == [{"percent": 100, "version": a}, {"percent": 0, "version": b}]
    alias = data["targets"][0]["traffic_resources"][0]
    assert alias["inputs"]["functionVersion"] == f"<{a}>"


def test_promote_twice_at_the_last_step_is_a_no_op(released: tuple[Path, str, str]) -> None:
    spec, _, b = released
    ev = good_evidence(spec.parent, b)
    assert svai("promote", str(spec), "--state-only", "--all", "--evidence", ev).code == 0
    state_file = spec.parent / ".svai" / "releases" / "scorer-dev.json"
    done = state_file.read_bytes()
    for _ in range(2):
        result = svai("promote", str(spec), "--state-only", "--evidence", ev)
        assert result.code == 0
        assert "nothing to promote" in result.out and "nothing to change" in result.out
    assert state_file.read_bytes() == done
    assert json.loads(done)["split"] == [{"percent": 100, "version": b}]


def test_rollback_restores_a_and_twice_is_a_no_op(released: tuple[Path, str, str]) -> None:
    spec, a, b = released
    dry = svai("rollback", str(spec), "--dry-run")
    assert dry.code == 0
    assert f"rolled back to {a}: {a} 100%, {b} 0%" in dry.out
    assert f'functionVersion: "<{a}>"' in dry.out
    first = svai("rollback", str(spec), "--state-only")
    assert first.code == 0 and "release state saved" in first.out
    second = svai("rollback", str(spec), "--state-only")
    assert second.code == 0 and f"already on {a}" in second.out
    versions = json.loads(svai("versions", str(spec), "--format", "json").out)
    assert versions["state"]["status"] == "rolled-back"
    assert versions["state"]["serving"] == a
    assert [e["action"] for e in versions["state"]["history"]] == ["start", "start", "rollback"]


def test_rollback_to_an_unknown_version_is_a_usage_error(released: tuple[Path, str, str]) -> None:
    spec, _, _ = released
    result = svai("rollback", str(spec), "--to", "v-000000000000", "--dry-run")
    assert result.code == 2
    assert "not a version deployed here" in result.err
    assert "Traceback" not in result.err


def test_versions_text(released: tuple[Path, str, str]) -> None:
    spec, a, b = released
    result = svai("versions", str(spec))
    assert result.code == 0
    assert f"in release: {b} (canary, step 1)" in result.out
    assert f"previous: {a}" in result.out
    assert "aws.lambda.zip — Lambda alias weighted routing" in result.out


def test_real_promote_and_rollback_need_the_pulumi_cli(
    released: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec, _, _ = released
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for command in ("promote", "rollback"):
        result = svai(command, str(spec))
        assert result.code == 3
        assert "the `pulumi` CLI is not on PATH" in result.err


def test_help_lists_the_release_commands() -> None:
    out = svai("--help").out
    for name in ("versions", "promote", "rollback"):
        assert name in out


def test_a_real_lambda_split_needs_and_uses_the_previous_lambda_version_number(
    released: tuple[Path, str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    moto_lambda: Callable[..., Any],
) -> None:
    spec, a, b = released
    state_file = spec.parent / ".svai" / "releases" / "scorer-dev.json"
    data = json.loads(state_file.read_text())
    ev = good_evidence(spec.parent, b)
    result = svai("promote", str(spec), "--dry-run", "--evidence", ev)
    assert result.code == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    # without a recorded Lambda version number for A, the split cannot be built at all
    result = svai("promote", str(spec), "--evidence", ev)
    assert result.code == 2 and f"Lambda version number of {a} (api) is unknown" in result.err
    assert json.loads(state_file.read_text())["step_index"] == 0  # nothing recorded
    # With one, the Automation API driver receives an AWS backend that routes A's share to it.
    # (The cloud itself is out of reach here: the driver's `up` is replaced by a recorder.)
    state_file.write_text(json.dumps({**data, "lambda_versions": {a: {"api": "3"}}}))
    seen: dict[str, object] = {}

    def fake_up(plans, *, stack, backend_url, work_dir, backends):  # type: ignore[no-untyped-def]
        from svai.backends.automation import Result

        seen.update(backends=backends, splits=[p.rollout.split for p in plans])
        return Result("up", f"svai-scorer/{stack}", {"aws_lambda_version_api": "4"}, {}, None)

    monkeypatch.setattr("svai.backends.automation.up", fake_up)
    # The upload is the target's reproducible build (tested in tests/runtimes/test_package.py);
    # this project's model is a stand-in file, so the build is replaced by its folder layout.
    built = tmp_path / "built" / "aws-us-east-1"
    asked: list[dict[str, object]] = []

    def fake_build(path: object, **options: object) -> SimpleNamespace:
        asked.append(options)
        return SimpleNamespace(targets=[SimpleNamespace(target="aws-us-east-1", directory=built)])

    monkeypatch.setattr("svai.api.build", fake_build)
    # These steps ([10, 50, 100]) are the gate job's: `up` leaves the alias's split alone
    # (ignore_changes), and promote routes it with the job's UpdateAlias, here on moto's Lambda.
    lam = moto_lambda(published=4, live="4", weights={"3": 0.9})
    result = svai("promote", str(spec), "--evidence", ev)
    assert result.code == 0, result.err
    aws = seen["backends"]["aws"]  # type: ignore[index]
    assert aws.previous_lambda_versions == {"api": "3"}
    assert aws.build_dir == str(built)
    assert asked == [{"vendor_deps": True}]  # a deployed zip carries its dependencies
    assert [(t.version, t.percent) for t in seen["splits"][0]] == [(a, 50), (b, 50)]  # type: ignore[index]
    after = json.loads(state_file.read_text())
    assert after["step_index"] == 1
    assert after["lambda_versions"][b] == {"api": "4"}
    alias = lam.get_alias(FunctionName="scorer-api", Name="live")
    assert (alias["FunctionVersion"], alias["RoutingConfig"]) == (
        "4",
        {"AdditionalVersionWeights": {"3": 0.5}},
    )
    assert "traffic moved: us-east-1 scorer-api:live -> version 4, version 3 at 50%" in result.out


@pytest.fixture
def moto_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """A moto server on 127.0.0.1; the factory creates ``scorer-api`` with versions and alias."""
    pytest.importorskip("moto.server")
    import boto3

    server, endpoint = start_moto()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    def create(*, published: int, live: str, weights: dict[str, float]) -> Any:
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="fn", AssumeRolePolicyDocument="{}"
        )
        lam = boto3.client("lambda", region_name="us-east-1")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zipped:
            zipped.writestr("handler.py", "def handle(event, context):\n    return 1\n")
        lam.create_function(
            FunctionName="scorer-api",
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="handler.handle",
            Code={"ZipFile": code.getvalue()},
        )
        for _ in range(published):
            lam.update_function_code(FunctionName="scorer-api", ZipFile=code.getvalue())
            lam.publish_version(FunctionName="scorer-api")
        lam.create_alias(
            FunctionName="scorer-api",
            Name="live",
            FunctionVersion=live,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )
        return lam

    yield create
    # moto keeps its data in this process, shared by every server: forget it for the next test.
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    ).close()
    server.stop()


def test_versions_shows_the_stack_outputs_of_the_last_apply(
    released: tuple[Path, str, str],
) -> None:
    spec, _, _ = released
    outputs = spec.parent / ".svai" / "outputs" / "svai-scorer-dev.json"
    outputs.parent.mkdir(parents=True)
    outputs.write_text(
        json.dumps({"aws_url": "https://x.execute-api", "aws_lambda_version_api": "4"})
    )
    result = svai("versions", str(spec))
    assert "output aws_lambda_version_api: 4" in result.out
    assert json.loads(svai("versions", str(spec), "--format", "json").out)["outputs"] == {
        "aws_lambda_version_api": "4",
        "aws_url": "https://x.execute-api",
    }


def test_lambda_version_numbers_are_recorded_from_the_outputs_of_an_apply(
    released: tuple[Path, str, str],
) -> None:
    spec, _, b = released
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    outputs = {"aws_lambda_version_api": 5, "aws_url": "u"}
    after = release._record_versions(state, outputs, {"aws"})
    assert after.lambda_versions == {b: {"api": "5"}}
    assert release._record_versions(state, {"aws_url": "u"}, {"aws"}) == state
    # Only the deployed clouds' hooks read the outputs (GCP and Azure record nothing).
    assert release._record_versions(state, outputs, {"gcp", "azure"}) == state
