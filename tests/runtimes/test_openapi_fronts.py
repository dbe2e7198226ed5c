"""The OpenAPI document of every front a caller can reach, and the gateway routes to it (#15, #20).

An async deployment's public API is its front door (``POST /jobs``, ``GET /jobs/{id}``), not
``/predict``: its document says so and the front answers ``GET /openapi.json``. A SageMaker
endpoint has no GET path a caller reaches, so its proxy answers from its own zip. The gateways
route ``GET /openapi.json``, and, where svai's HTTP server serves an engine in a container, the
OpenAI routes as well.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from test_package import write_project

from svai import api
from svai.backends.gcp.openapi import render_openapi
from svai.build.openapi import openapi_document
from svai.runtime.core import load_config
from svai.runtime.entry.jobs import JobsFront
from svai.runtime.entry.sagemaker_proxy import EndpointProxy

ROOT = Path(__file__).parents[2]
LLM = ROOT / "examples" / "llm-gpu" / "svai.yaml"
FRAUD = ROOT / "examples" / "fraud-sklearn" / "svai.yaml"


def _get(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path}, "requestId": "r1"},
    }


@pytest.fixture(scope="module")
def async_front(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extracted front-door zip of an async Lambda deployment of the iris project."""
    root = tmp_path_factory.mktemp("async")
    spec = write_project(root / "project", targets="  - {cloud: aws, region: us-east-1}\n")
    spec.write_text(spec.read_text().replace("api:\n", "api:\n  mode: async\n", 1))
    target = api.build(spec, out_dir=root / "out").targets[0]
    folder = root / "front"
    with zipfile.ZipFile(target.directory / "function.zip") as archive:
        archive.extractall(folder)
    return folder


def test_an_async_front_serves_a_document_of_its_jobs_api(async_front: Path) -> None:
    written = json.loads((async_front / "openapi.json").read_text())
    validate(written)
    assert set(written["paths"]) == {"/jobs", "/jobs/{id}", "/openapi.json"}
    submit = written["paths"]["/jobs"]["post"]
    assert {"202", "413", "415", "422"} <= set(submit["responses"])
    done = written["paths"]["/jobs/{id}"]["get"]["responses"]["200"]
    assert "outputs" in done["content"]["application/json"]["schema"]["properties"]
    # The front never touches its queue or store for the document.
    front = JobsFront(load_config(async_front / "svai_runtime.json"), queue=None, store=None)  # type: ignore[arg-type]
    assert front.route("GET", "/prod/openapi.json", b"", None, {}) == (200, written, {})
    status, body, _ = front.route("POST", "/openapi.json", b"", None, {})
    assert status == 404 and body["error"]["code"] == "not_found"


def test_the_sagemaker_proxy_answers_the_document_from_its_zip(tmp_path: Path) -> None:
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "v"}, "paths": {}}
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    proxy = EndpointProxy(client=None, endpoint="ep", max_payload_bytes=1000, artifact=tmp_path)
    reply = proxy.dispatch(_get("/prod/openapi.json"))
    assert reply["statusCode"] == 200 and json.loads(reply["body"]) == document
    # Any other GET is still refused: the endpoint answers POST only.
    assert proxy.dispatch(_get("/prod/predict"))["statusCode"] == 405
    bare = EndpointProxy(client=None, endpoint="ep", max_payload_bytes=1000, artifact=None)
    assert bare.dispatch(_get("/openapi.json"))["statusCode"] == 404


def test_gateways_route_the_document_and_an_engines_openai_routes() -> None:
    _, llm = api.plan(LLM)
    routes = {
        t.plan.cloud: (t.plan.services[0].compute.kind, t.plan.entry.routes) for t in llm.targets
    }
    kind, gcp = routes["gcp"]
    assert kind == "container"
    assert {("POST", "/v1/chat/completions", "api"), ("GET", "/v1/models", "api")} <= set(gcp)
    kind, endpoint = routes["azure"]  # an Azure ML endpoint passes its one scoring path
    assert kind == "endpoint"
    assert endpoint == (("POST", "/predict", "api"), ("GET", "/openapi.json", "api"))
    kind, endpoint = routes["aws"]  # SageMaker's proxy passes generation to /invocations too
    assert kind == "endpoint"
    assert endpoint == (
        ("POST", "/predict", "api"),
        ("GET", "/openapi.json", "api"),
        ("POST", "/v1/chat/completions", "api"),
        ("POST", "/v1/completions", "api"),
    )
    # The GCP gateway's own OpenAPI config passes those paths to Cloud Run.
    entry = next(t.plan.entry for t in llm.targets if t.plan.cloud == "gcp")
    config = json.loads(render_openapi("support-llm", "v1", entry, {"api": "https://run.app"}))
    assert {"/predict", "/openapi.json", "/v1/chat/completions", "/v1/models"} <= set(
        config["paths"]
    )
    assert config["paths"]["/openapi.json"]["get"]["x-google-backend"]["address"] == (
        "https://run.app/openapi.json"
    )
    _, fraud = api.plan(FRAUD)
    for target in fraud.targets:
        assert not any(path.startswith("/v1/") for _, path, _ in target.plan.entry.routes)
        assert ("GET", "/openapi.json", "api") in target.plan.entry.routes


def test_an_engines_document_lists_the_openai_routes_it_serves() -> None:
    spec = api.validate(LLM).resolved
    model = {"task": "text-generation", "framework": "transformers"}
    served = openapi_document(spec, "v1", model, None, openai_task="text-generation")
    validate(served)
    assert {"/predict", "/v1/chat/completions", "/v1/completions", "/v1/models"} <= set(
        served["paths"]
    )
    chat = served["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert chat["content"]["application/json"]["schema"]["required"] == ["messages"]
    item = served["components"]["schemas"]["Item"]
    assert item["required"] == ["generated_text"]
    # Behind a managed endpoint only /predict reaches the model.
    endpoint = openapi_document(spec, "v1", model, None)
    assert not any(path.startswith("/v1/") for path in endpoint["paths"])
    embeddings = openapi_document(spec, "v1", model, None, openai_task="feature-extraction")
    assert (
        "/v1/embeddings" in embeddings["paths"]
        and "/v1/chat/completions" not in embeddings["paths"]
    )
