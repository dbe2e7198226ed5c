"""CodeDeploy runs a Lambda release's shift: ``apply`` starts it, ``promote`` records its outcome.

On moto's server on 127.0.0.1: Lambda (the function, its versions and the ``live`` alias),
CodeDeploy (the application and group Pulumi creates, ``CreateDeployment``, ``GetDeployment``)
and S3 (the release state in the bucket). The cloud's Pulumi ``up`` is out of reach: the
Automation API driver's ``up`` is replaced by one that returns the stack outputs the AWS
backend exports and saves them as the real one does.

moto creates a deployment and leaves it ``Created``: it runs no shift and watches no alarm, and
it does not implement ``StopDeployment``. So a deployment's end (CodeDeploy stopping it on an
alarm and routing the alias back, or finishing it) is set in moto's own state, the one its
server answers ``GetDeployment`` from; what svai reads and records is then checked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from svai.backends.aws import codedeploy
from svai.compiler.release_state import from_dict, read_state
from tests.release.codedeploy_fake import CodeDeploy, serve
from tests.release.projects import CANARY, Project, swap_model
from tests.release.test_release_cli import (  # noqa: F401 - moto_lambda: the fixture
    good_evidence,
    moto_lambda,
    svai,
)

FUNCTION = "scorer-api"
GROUP = codedeploy.Group("api", "us-east-1", FUNCTION, f"{FUNCTION}-live", FUNCTION)
BUCKET = "scorer-artifacts"
STATE_URL = f"s3://{BUCKET}/svai"
CODEDEPLOY_CANARY = CANARY.replace("[10, 50, 100]", "[10, 100]")  # one canary step: CodeDeploy's


@dataclasses.dataclass
class Cloud:
    """moto's clients, and the deployments its CodeDeploy holds."""

    lam: Any
    deploy: Any
    s3: Any

    def deployments(self) -> list[str]:
        return list(
            self.deploy.list_deployments(
                applicationName=GROUP.application, deploymentGroupName=GROUP.group
            )["deployments"]
        )

    def alias(self) -> tuple[str, dict[str, float]]:
        live = self.lam.get_alias(FunctionName=FUNCTION, Name="live")
        return live["FunctionVersion"], (live.get("RoutingConfig") or {}).get(
            "AdditionalVersionWeights", {}
        )

    def bucket_state(self) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=BUCKET, Key="svai/releases/scorer-dev.json")["Body"]
        return dict(json.loads(body.read()))


def end_deployment(deployment: str, status: str) -> None:
    """Where CodeDeploy would leave ``deployment``, set in moto's state (moto runs no shift)."""
    from moto.codedeploy.models import codedeploy_backends

    codedeploy_backends["123456789012"]["us-east-1"].deployments[deployment].status = status


@pytest.fixture
def aws(moto_lambda: Callable[..., Any]) -> Cloud:  # noqa: F811 - the fixture
    """moto on 127.0.0.1 with what ``up`` would have made: A serving on version 3, B published
    as version 4, the alias on 3, the CodeDeploy application and group, the bucket."""
    import boto3

    lam = moto_lambda(published=4, live="3", weights={})
    deploy = boto3.client("codedeploy", region_name="us-east-1")
    deploy.create_application(applicationName=GROUP.application, computePlatform="Lambda")
    deploy.create_deployment_group(
        applicationName=GROUP.application,
        deploymentGroupName=GROUP.group,
        serviceRoleArn="arn:aws:iam::123456789012:role/deploy",
        deploymentConfigName=f"{FUNCTION}-canary-10pct-10m",
        deploymentStyle={
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
            "deploymentType": "BLUE_GREEN",
        },
        alarmConfiguration={"enabled": True, "alarms": [{"name": f"{FUNCTION}-rollback-p99"}]},
        autoRollbackConfiguration={
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        },
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return Cloud(lam, deploy, s3)


@pytest.fixture
def applied(
    project: Project, aws: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Path, str, str, str]:
    """``svai apply`` of B over A: the spec, A, B and the CodeDeploy deployment it started."""
    spec = project(targets="aws-lambda", rollout=CODEDEPLOY_CANARY)
    assert svai("promote", str(spec), "--state-only").code == 0
    state_file = spec.parent / ".svai" / "releases" / "scorer-dev.json"
    a = read_state(state_file, "scorer", "dev").deployed
    assert a is not None
    data = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**data, "lambda_versions": {a: {"api": "3"}}}))
    swap_model(spec, b"B")
    outputs = {
        "aws_lambda_version_api": "4",
        f"{codedeploy.OUTPUT_PREFIX}api": codedeploy.group_output(GROUP),
        "aws_release_state_url": STATE_URL,
    }

    def fake_up(plans, *, stack, backend_url, work_dir, backends):  # type: ignore[no-untyped-def]
        from svai.backends.automation import Result

        saved = Path(work_dir) / ".svai" / "outputs" / f"svai-scorer-{stack}.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(outputs))  # what the real driver saves after `up`
        return Result("up", f"svai-scorer/{stack}", outputs, {}, saved)

    monkeypatch.setattr("svai.backends.automation.up", fake_up)
    built = SimpleNamespace(targets=[SimpleNamespace(target="aws-us-east-1", directory=tmp_path)])
    monkeypatch.setattr("svai.api.build", lambda path, **options: built)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    b = json.loads(svai("versions", str(spec), "--format", "json").out)["spec_version"]
    result = svai("apply", str(spec), "--evidence", good_evidence(spec.parent, b))
    assert result.code == 0, result.err
    (deployment,) = aws.deployments()
    assert (
        f"traffic shift: us-east-1 {FUNCTION}:live: CodeDeploy deployment {deployment} "
        "shifts version 3 -> 4" in result.out
    )
    assert "traffic moved" not in result.out  # CodeDeploy moves the alias, not svai
    return spec, a, b, deployment


def test_apply_starts_a_codedeploy_deployment_with_the_lambda_appspec(
    applied: tuple[Path, str, str, str], aws: Cloud
) -> None:
    spec, a, b, deployment = applied
    info = aws.deploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
    assert (info["applicationName"], info["deploymentGroupName"]) == (
        GROUP.application,
        GROUP.group,
    )
    assert info["revision"]["revisionType"] == "AppSpecContent"
    assert json.loads(info["revision"]["appSpecContent"]["content"]) == {
        "version": 0.0,
        "Resources": [
            {
                FUNCTION: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": FUNCTION,
                        "Alias": "live",
                        "CurrentVersion": "3",  # where the alias pointed (up left it alone)
                        "TargetVersion": "4",  # what up just published for B
                    },
                }
            }
        ],
    }
    assert aws.alias() == ("3", {})  # svai did not touch it: CodeDeploy shifts it
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    assert (state.status, state.candidate, state.serving) == ("in-progress", b, a)
    assert state.deployments == {b: {"us-east-1/api": deployment}}
    assert state.lambda_versions == {a: {"api": "3"}, b: {"api": "4"}}
    assert from_dict(aws.bucket_state()) == state  # the authoritative copy, in the bucket


def test_promote_holds_while_codedeploy_shifts(
    applied: tuple[Path, str, str, str], aws: Cloud
) -> None:
    spec, _, _, deployment = applied
    state_file = spec.parent / ".svai" / "releases" / "scorer-dev.json"
    before = state_file.read_bytes()
    result = svai("promote", str(spec))
    assert result.code == 0, result.err
    assert "held: the cloud is still shifting traffic by itself" in result.out
    assert f"CodeDeploy deployment {deployment} Created" in result.out
    assert "nothing to change" in result.out
    assert state_file.read_bytes() == before
    assert aws.alias() == ("3", {})


@pytest.mark.parametrize("status", ["Stopped", "Failed"])
def test_promote_records_a_deployment_codedeploy_rolled_back(
    applied: tuple[Path, str, str, str], aws: Cloud, status: str
) -> None:
    spec, a, b, deployment = applied
    end_deployment(deployment, status)  # an alarm fired: CodeDeploy stopped and routed back
    result = svai("promote", str(spec), "--format", "json")
    assert result.code == 1, result.err  # a rolled-back release fails as a failed gate does
    data = json.loads(result.out)
    line = (
        f"us-east-1 {FUNCTION}:live: CodeDeploy deployment {deployment} {status} "
        "(rolled back to the version before)"
    )
    assert [s["line"] for s in data["shifts"]] == [line]
    assert data["shifts"][0]["outcome"] == "rolled-back"
    assert data["gate_failed"] and data["moved"] == []  # nothing routed: CodeDeploy did it
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    assert (state.status, state.serving, state.candidate) == ("rolled-back", a, None)
    assert state.split == ((a, 100), (b, 0))
    last = state.history[-1]
    assert (last.action, last.version, last.note) == ("rollback", a, line)
    assert from_dict(aws.bucket_state()) == state
    text = svai("promote", str(spec))  # and it is over: nothing more to read or do
    assert text.code == 0 and "nothing to promote" in text.out, text.out


def test_promote_completes_a_release_codedeploy_finished(
    applied: tuple[Path, str, str, str], aws: Cloud
) -> None:
    spec, _, b, deployment = applied
    end_deployment(deployment, "Succeeded")
    result = svai("promote", str(spec))
    assert result.code == 0, result.err
    assert f"CodeDeploy deployment {deployment} Succeeded" in result.out
    assert "traffic moved" not in result.out
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    assert (state.status, state.serving, state.split) == ("complete", b, ((b, 100),))
    assert state.history[-1].action == "complete"
    assert deployment in state.history[-1].note
    assert from_dict(aws.bucket_state()) == state


def test_a_person_s_rollback_after_codedeploy_finished_routes_the_alias_itself(
    applied: tuple[Path, str, str, str], aws: Cloud
) -> None:
    spec, a, _, deployment = applied
    end_deployment(deployment, "Succeeded")
    aws.lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="4")  # as it did
    assert svai("promote", str(spec)).code == 0
    result = svai("rollback", str(spec))
    assert result.code == 0, result.err
    # No deployment is running, so none is stopped; `up` left the alias alone, svai routes it.
    assert "traffic shift" not in result.out
    assert f"traffic moved: us-east-1 {FUNCTION}:live -> version 3" in result.out
    assert aws.alias() == ("3", {})
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    assert (state.status, state.serving) == ("rolled-back", a)


def test_status_shows_where_the_codedeploy_deployment_stands(
    applied: tuple[Path, str, str, str], aws: Cloud
) -> None:
    spec, _, _, deployment = applied
    code = svai("status", str(spec), "--format", "json")
    assert code.code == 0, code.err
    assert json.loads(code.out)["shifts"] == [
        {
            "where": "us-east-1/api",
            "deployment": deployment,
            "status": "Created",
            "outcome": "shifting",
            "line": f"us-east-1 {FUNCTION}:live: CodeDeploy deployment {deployment} Created",
        }
    ]
    end_deployment(deployment, "Stopped")  # before anyone runs promote, status says so
    text = svai("status", str(spec))
    assert (
        f"us-east-1 {FUNCTION}:live: CodeDeploy deployment {deployment} Stopped "
        "(rolled back to the version before)" in text.out
    ), text.out


@pytest.fixture
def codedeploy_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[CodeDeploy]:
    """The CodeDeploy fake on 127.0.0.1 in place of moto's CodeDeploy (Lambda stays on moto)."""
    fake = CodeDeploy()
    with serve(fake) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", url)
        yield fake


def test_promote_says_why_codedeploy_rolled_back(
    applied: tuple[Path, str, str, str], codedeploy_fake: CodeDeploy
) -> None:
    spec, a, _, deployment = applied
    codedeploy_fake.add(deployment)
    codedeploy_fake.stop_on_alarm(deployment, f"{FUNCTION}-rollback-p99")
    result = svai("promote", str(spec))
    assert result.code == 1, result.err
    line = (
        f"us-east-1 {FUNCTION}:live: CodeDeploy deployment {deployment} Stopped (rolled back to "
        f"the version before; alarm {FUNCTION}-rollback-p99 is in ALARM: the deployment was "
        f"stopped; rollback deployment {deployment}-rollback routed the alias back)"
    )
    assert line in result.out
    assert "the cloud rolled the release back on its alarms" in result.out
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    assert (state.status, state.serving, state.history[-1].note) == ("rolled-back", a, line)


def test_a_person_s_rollback_stops_the_running_deployment_then_routes_the_alias(
    applied: tuple[Path, str, str, str], aws: Cloud, codedeploy_fake: CodeDeploy
) -> None:
    spec, a, _, deployment = applied
    codedeploy_fake.add(deployment)  # still shifting: 10% on version 4
    aws.lam.update_alias(
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion="3",
        RoutingConfig={"AdditionalVersionWeights": {"4": 0.1}},
    )
    result = svai("rollback", str(spec))
    assert result.code == 0, result.err
    stop = ("StopDeployment", {"deploymentId": deployment, "autoRollbackEnabled": True})
    assert stop in codedeploy_fake.calls  # or CodeDeploy would go on shifting to 4
    assert (
        f"traffic shift: us-east-1 {FUNCTION}:live: CodeDeploy deployment {deployment} stopped"
        in result.out
    )
    assert f"traffic moved: us-east-1 {FUNCTION}:live -> version 3" in result.out
    assert aws.alias() == ("3", {})
    state = read_state(spec.parent / ".svai" / "releases" / "scorer-dev.json", "scorer", "dev")
    assert (state.status, state.serving) == ("rolled-back", a)
    # Nothing left running: a second rollback has nothing to stop (and nothing to change).
    again = svai("rollback", str(spec))
    assert again.code == 0 and [c for c in codedeploy_fake.calls if c == stop] == [stop]


def test_a_finished_codedeploy_shift_leaves_the_other_targets_to_the_gates() -> None:
    from svai import release
    from svai.backends.cloud import Shifted

    done = Shifted("us-east-1/api", "d-1", "Succeeded", "succeeded", "d-1 succeeded")
    running = dataclasses.replace(done, status="InProgress", outcome="shifting")
    undone = dataclasses.replace(done, status="Stopped", outcome="rolled-back")
    alone = [("aws", "us-east-1")]
    beside_cloud_run = [("aws", "us-east-1"), ("gcp", "europe-west1")]
    # Lambda alone: CodeDeploy's outcome is the step.
    assert not release._left_to_the_gates([done], alone)
    # A Cloud Run target beside it still steps by the gates once CodeDeploy finished...
    assert release._left_to_the_gates([done], beside_cloud_run)
    # ...while a shift still running holds, and a rolled-back one rolls back, everywhere.
    assert not release._left_to_the_gates([running], beside_cloud_run)
    assert not release._left_to_the_gates([undone, done], beside_cloud_run)
