"""``GET /openapi.json`` from the function entry points, not only the HTTP server (#15).

One project is built for Lambda, Cloud Run functions and Azure Functions; each zip is extracted
and its entry point runs on its own framework in a fresh process (the copied runtime, not the
installed one), asked for the document. The answer must be the artifact's ``openapi.json``, byte
for byte, and a valid OpenAPI document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from test_package import write_project

from svai import api

TARGETS = (
    "  - {cloud: aws, region: us-east-1, runtime: faas}\n"
    "  - {cloud: gcp, region: europe-west1, runtime: faas}\n"
    "  - {cloud: azure, region: westeurope, runtime: faas}\n"
)

RUNNER = """
import base64, json, os, sys
cloud, out = sys.argv[1], sys.argv[2]
answers = []
if cloud == "aws":
    from svai.runtime.entry import aws_lambda
    from svai.runtime.entry.emulator import LocalContext
    v2 = {"version": "2.0", "rawPath": "/prod/openapi.json", "headers": {},
          "requestContext": {"http": {"method": "GET", "path": "/prod/openapi.json"},
                             "requestId": "r1"}}
    v1 = {"resource": "/openapi.json", "path": "/openapi.json", "httpMethod": "GET",
          "headers": {}, "requestContext": {"requestId": "r2"}, "body": None}
    ready = {**v2, "rawPath": "/", "requestContext": {"http": {"method": "GET", "path": "/"},
                                                       "requestId": "r3"}}
    for event in (v2, v1, ready):
        result = aws_lambda.handler(event, LocalContext())
        answers.append([result["statusCode"], result["body"]])
elif cloud == "gcp":
    import functions_framework
    client = functions_framework.create_app("predict", os.path.join(os.getcwd(), "main.py")).test_client()
    for path in ("/openapi.json", "/"):
        reply = client.get(path)
        answers.append([reply.status_code, reply.get_data(as_text=True)])
else:
    import azure.functions as func
    import function_app
    fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    for name, url in (("openapi", "/api/openapi.json"), ("healthz", "/api/healthz")):
        reply = fns[name](func.HttpRequest(method="GET", url=url, body=b""))
        answers.append([reply.status_code, reply.get_body().decode()])
with open(out, "w") as handle:  # not stdout: the runtime logs there
    json.dump(answers, handle)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> api._package.BuildResult:
    root = tmp_path_factory.mktemp("openapi")
    return api.build(write_project(root / "project", targets=TARGETS), out_dir=root / "out")


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_each_function_entry_serves_the_artifacts_openapi_document(
    built: api._package.BuildResult, cloud: str, tmp_path: Path
) -> None:
    target = next(t for t in built.targets if t.target.startswith(cloud))
    assert target.package == "zip"
    extracted = tmp_path / "task"
    with zipfile.ZipFile(target.directory / "function.zip") as archive:
        archive.extractall(extracted)
    env = {**os.environ, "PYTHONPATH": str(extracted), "LAMBDA_TASK_ROOT": str(extracted)}
    env.pop("SVAI_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, cloud, str(tmp_path / "answers.json")],
        env=env, cwd=extracted, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads((tmp_path / "answers.json").read_text())
    written = (target.directory / "openapi.json").read_text()
    validate(json.loads(written))
    *documents, (ready_status, ready_body) = answers
    for status, body in documents:
        assert (status, body) == (200, written)  # byte for byte what the build wrote
    # Any other GET is still readiness, not the document.
    assert ready_status == 200 and json.loads(ready_body)["status"] == "ready"
