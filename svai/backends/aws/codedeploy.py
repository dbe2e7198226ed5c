"""CodeDeploy runs the ``live`` alias's shift of a Lambda release, through its API, as SAM does.

Where CodeDeploy can express a release's steps (:func:`svai.backends.gate.alias_owner`), the
stack holds a CodeDeploy application and deployment group per Lambda service, with the
release's alarms and automatic rollback (:func:`svai.backends.aws.deployments.lambda_rollback`),
and exports their names (``aws_codedeploy_<service>``); the alias's split is ``ignore_changes``.

* :func:`start`: once ``up`` has published the new version, a deployment shifts the alias from
  the version it points at to that one (``CreateDeployment`` with a Lambda AppSpec). CodeDeploy
  runs the group's canary, linear or all-at-once config and, when an alarm fires, stops and
  routes the alias back by itself.
* :func:`read`: where the release's deployments stand (``GetDeployment``), for ``svai promote``.
* :func:`stop`: a person's ``svai rollback`` stops a deployment still running
  (``StopDeployment`` with its automatic rollback).

These are the AWS cloud's :class:`~svai.backends.cloud.ShiftHooks`. No Pulumi; boto3 is
imported when a call is made.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from svai.backends import gate
from svai.backends.aws.arguments import LIVE_ALIAS, lambda_name
from svai.backends.cloud import Shifted
from svai.compiler.release_state import ReleaseState
from svai.errors import DeployError, ToolMissingError, UsageError
from svai.ir import DeploymentPlan

__all__ = [
    "OUTPUT_PREFIX",
    "Group",
    "appspec",
    "calling",
    "exported",
    "group_output",
    "groups_in",
    "read",
    "start",
    "stop",
]

OUTPUT_PREFIX = "aws_codedeploy_"
"""Stack output ``aws_codedeploy_<service>``: the service's CodeDeploy application and group."""

_T = TypeVar("_T")

_SUCCEEDED = "Succeeded"
_ROLLED_BACK = frozenset({"Failed", "Stopped"})
"""With automatic rollback on (every svai group), CodeDeploy routes the alias back on these."""


@dataclass(frozen=True, slots=True)
class Group:
    """The CodeDeploy deployment group that shifts one function's ``live`` alias.

    Attributes:
        service: The service (the key of ``ReleaseState.lambda_versions``).
        region: The AWS region.
        application: The CodeDeploy application.
        group: The deployment group.
        function: The function whose alias it shifts.
    """

    service: str
    region: str
    application: str
    group: str
    function: str

    @property
    def where(self) -> str:
        """How the release state keys this group's deployments: ``us-east-1/api``."""
        return f"{self.region}/{self.service}"


def group_output(group: Group) -> dict[str, str]:
    """The value of ``group``'s stack output (:func:`groups_in` reads it back)."""
    return dataclasses.asdict(group)


def groups_in(outputs: Mapping[str, Any]) -> tuple[Group, ...]:
    """The deployment groups a stack exports (``aws_codedeploy_<service>``), by output name.

    Raises:
        svai.errors.UsageError: such an output lacks a field (not written by this svai).
    """
    return exported(outputs, OUTPUT_PREFIX, Group, "a CodeDeploy group")


def exported(outputs: Mapping[str, Any], prefix: str, kind: type[_T], what: str) -> tuple[_T, ...]:
    """The stack outputs named ``prefix<service>``, by output name, as ``kind`` (a dataclass).

    Raises:
        svai.errors.UsageError: such an output lacks a field (not written by this svai).
    """
    found = []
    for key, value in sorted(outputs.items()):
        if not key.startswith(prefix):
            continue
        try:
            found.append(kind(**{f.name: str(value[f.name]) for f in dataclasses.fields(kind)}))  # type: ignore[arg-type]
        except (KeyError, TypeError) as exc:
            raise UsageError(f"stack output {key} is not {what} ({exc!r})") from None
    return tuple(found)


def appspec(function: str, current: str, target: str) -> str:
    """The Lambda AppSpec that shifts ``function``'s ``live`` alias from ``current`` to ``target``.

    CodeDeploy's documented shape (``version: 0.0``, one ``AWS::Lambda::Function`` resource),
    as JSON, which CodeDeploy reads as well as YAML.
    """
    resource = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Name": function,
            "Alias": LIVE_ALIAS,
            "CurrentVersion": current,
            "TargetVersion": target,
        },
    }
    return json.dumps({"version": 0.0, "Resources": [{function: resource}]}, sort_keys=True)


def start(
    plan: DeploymentPlan, state: ReleaseState, outputs: Mapping[str, Any]
) -> tuple[Shifted, ...]:
    """Start a deployment per function of ``plan`` whose alias is not on the new version yet.

    The current version is where the alias points now (``up`` left it: ``ignore_changes``),
    the target the number ``up`` published for ``state``'s deployed version. Nothing starts
    where CodeDeploy does not own the alias, or the alias already points at the target (the
    very first deployment creates it there).

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: Lambda or CodeDeploy refused a call.
    """
    if gate.alias_owner(plan) != "codedeploy" or state.deployed is None:
        return ()
    numbers = state.lambda_versions.get(state.deployed, {})
    started = []
    for group in groups_in(outputs):
        target = numbers.get(group.service)
        if group.region != plan.region or target is None:
            continue
        with calling(f"{group.function}:{LIVE_ALIAS} in {group.region}"):
            alias = client("lambda", group.region).get_alias(
                FunctionName=group.function, Name=LIVE_ALIAS
            )
            current = str(alias["FunctionVersion"])
            if current == target:
                continue
            created = client("codedeploy", group.region).create_deployment(
                applicationName=group.application,
                deploymentGroupName=group.group,
                revision={
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {"content": appspec(group.function, current, target)},
                },
                description=f"svai: {state.name} {state.environment} -> {state.deployed}",
            )
        deployment = str(created["deploymentId"])
        line = (
            f"{group.region} {group.function}:{LIVE_ALIAS}: CodeDeploy deployment {deployment} "
            f"shifts version {current} -> {target}"
        )
        started.append(Shifted(group.where, deployment, "Created", "shifting", line))
    return tuple(started)


def read(state: ReleaseState) -> tuple[Shifted, ...]:
    """Where the deployments recorded for the release in progress stand (``GetDeployment``).

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: CodeDeploy refused the read.
    """
    found = []
    for where, deployment in recorded(state):
        region = where.partition("/")[0]
        with calling(f"reading CodeDeploy deployment {deployment} in {region}"):
            info = client("codedeploy", region).get_deployment(deploymentId=deployment)
        found.append(_shifted(where, _alias(state, where), deployment, info["deploymentInfo"]))
    return tuple(found)


def stop(state: ReleaseState) -> tuple[Shifted, ...]:
    """Stop the release's deployments still running; CodeDeploy routes their aliases back.

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: CodeDeploy refused a call.
    """
    stopped = []
    for shift in read(state):
        if shift.outcome != "shifting":
            continue
        region = shift.where.partition("/")[0]
        with calling(f"stopping CodeDeploy deployment {shift.deployment} in {region}"):
            client("codedeploy", region).stop_deployment(
                deploymentId=shift.deployment, autoRollbackEnabled=True
            )
        line = f"{_alias(state, shift.where)}: CodeDeploy deployment {shift.deployment} stopped"
        stopped.append(Shifted(shift.where, shift.deployment, "Stopped", "rolled-back", line))
    return tuple(stopped)


def recorded(state: ReleaseState) -> list[tuple[str, str]]:
    """``(where, deployment)`` recorded for the release in progress (none otherwise)."""
    if state.status != "in-progress" or state.candidate is None:
        return []
    return sorted(state.deployments.get(state.candidate, {}).items())


def _alias(state: ReleaseState, where: str) -> str:
    """``us-east-1 scorer-api:live``: the alias a deployment recorded at ``where`` shifts."""
    region, _, service = where.partition("/")
    return f"{region} {lambda_name(state.name, service)}:{LIVE_ALIAS}"


def _shifted(where: str, alias: str, deployment: str, info: Mapping[str, Any]) -> Shifted:
    """A ``GetDeployment`` answer as a :class:`Shifted`, with CodeDeploy's reason when it ended."""
    status = str(info.get("status", ""))
    outcome: Literal["shifting", "succeeded", "rolled-back"] = "shifting"
    if status == _SUCCEEDED:
        outcome = "succeeded"
    elif status in _ROLLED_BACK:
        outcome = "rolled-back"
    line = f"{alias}: CodeDeploy deployment {deployment} {status}"
    why = [
        str(text)
        for text in (
            (info.get("errorInformation") or {}).get("message"),
            (info.get("rollbackInfo") or {}).get("rollbackMessage"),
        )
        if text
    ]
    if outcome == "rolled-back":
        why.insert(0, "rolled back to the version before")
    if why:
        line += " (" + "; ".join(why) + ")"
    return Shifted(where, deployment, status, outcome, line)


def client(service: str, region: str) -> Any:
    """A boto3 client of ``service`` in ``region`` (boto3 imported on the first call)."""
    import boto3

    return boto3.client(service, region_name=region)


@contextmanager
def calling(what: str) -> Iterator[None]:
    """Turn botocore's failures while doing ``what`` into svai's errors.

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: the service refused or could not be reached.
    """
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise ToolMissingError(
            f"no AWS credentials for {what}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"{what} failed: {exc}") from None
