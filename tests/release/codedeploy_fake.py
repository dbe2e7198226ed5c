"""A loopback fake of the two CodeDeploy calls moto cannot answer as CodeDeploy does.

moto 5 implements no ``StopDeployment`` and always answers ``GetDeployment`` with empty
``errorInformation`` and ``rollbackInfo``. This fake speaks CodeDeploy's JSON 1.1 protocol
(``POST /`` with ``X-Amz-Target: CodeDeploy_20141006.<Operation>``) for exactly these two, after
the API reference:

* ``GetDeployment {deploymentId}`` -> ``{deploymentInfo}``; an unknown id is a 400
  ``DeploymentDoesNotExistException``.
* ``StopDeployment {deploymentId, autoRollbackEnabled}`` -> ``{status, statusMessage}``. A
  deployment that already ended is a 400 ``DeploymentAlreadyCompletedException``. Otherwise it
  ends ``Stopped`` with ``errorInformation.code`` ``MANUAL_STOP`` and, when the rollback is on, a
  rollback deployment named in ``rollbackInfo``.

An alarm's stop is :meth:`CodeDeploy.stop_on_alarm`: ``Stopped``, ``ALARM_ACTIVE`` and the
rollback, as CodeDeploy leaves a deployment whose group's alarm fired. The messages are this
fake's own words; the fields and codes are the documented ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.signals.signal_fakes import loopback

_TARGET = "CodeDeploy_20141006."
_ENDED = frozenset({"Succeeded", "Failed", "Stopped"})


@dataclass
class CodeDeploy:
    """Deployment id -> its ``DeploymentInfo``; every request, in order."""

    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, deployment: str, status: str = "InProgress") -> None:
        self.deployments[deployment] = {
            "deploymentId": deployment,
            "status": status,
            "computePlatform": "Lambda",
            "errorInformation": {},
            "rollbackInfo": {},
        }

    def stop_on_alarm(self, deployment: str, alarm: str) -> None:
        info = self.deployments[deployment]
        info["status"] = "Stopped"
        info["errorInformation"] = {
            "code": "ALARM_ACTIVE",
            "message": f"alarm {alarm} is in ALARM: the deployment was stopped",
        }
        self._roll_back(info)

    def _roll_back(self, info: dict[str, Any]) -> None:
        back = f"{info['deploymentId']}-rollback"
        info["rollbackInfo"] = {
            "rollbackDeploymentId": back,
            "rollbackMessage": f"rollback deployment {back} routed the alias back",
        }

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append((operation, body))
        info = self.deployments.get(str(body.get("deploymentId")))
        if info is None:
            return 400, {
                "__type": "DeploymentDoesNotExistException",
                "message": f"The deployment {body.get('deploymentId')} could not be found.",
            }
        if operation == "GetDeployment":
            return 200, {"deploymentInfo": info}
        if operation == "StopDeployment":
            if info["status"] in _ENDED:
                return 400, {
                    "__type": "DeploymentAlreadyCompletedException",
                    "message": f"The deployment {info['deploymentId']} is already completed.",
                }
            info["status"] = "Stopped"
            info["errorInformation"] = {"code": "MANUAL_STOP", "message": "stopped by a user"}
            if body.get("autoRollbackEnabled"):
                self._roll_back(info)
            return 200, {"status": "Succeeded", "statusMessage": "the deployment was stopped"}
        return 400, {"__type": "UnknownOperationException", "message": operation}


@contextmanager
def serve(fake: CodeDeploy) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1; yield its URL (for ``AWS_ENDPOINT_URL_CODEDEPLOY``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            code, answer = fake.answer(target.removeprefix(_TARGET), body)
            raw = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    with loopback(Handler) as url:
        yield url
