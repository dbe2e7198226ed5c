"""Pure lowering of plans to GCP resource specs: no Pulumi runs here."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plans import VERSION, async_plan, sync_plan

from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import (
    Blueprint,
    Concat,
    FileSource,
    Ref,
    Rendered,
    ResourceSpec,
    notes,
    pending,
)
from svai.backends.gcp.lowering import PUSH_ACK_MAX_S, PUSH_PATH, lower, parse_secret
from svai.backends.gcp.openapi import render_openapi
from svai.errors import UsageError
from svai.ir import DeploymentPlan

BILLING = "000000-111111-222222"


def _with_compute(plan: DeploymentPlan, role: str, **changes: Any) -> DeploymentPlan:
    services = tuple(
        dataclasses.replace(s, compute=dataclasses.replace(s.compute, **changes))
        if s.role == role
        else s
        for s in plan.services
    )
    return dataclasses.replace(plan, services=services)


def _gpu_plan() -> DeploymentPlan:
    return _with_compute(sync_plan("gcp"), "api", gpu_type="nvidia-l4", gpu_count=1)


def _of_type(deployment: Blueprint, token: str) -> list[ResourceSpec]:
    return [s for s in deployment.resources() if s.token == token]


def _invokers(deployment: Blueprint) -> list[tuple[str, object]]:
    return [
        (str(s.args["name"]), s.args["member"])
        for s in _of_type(deployment, T.RUN_IAM)
        if s.args["role"] == "roles/run.invoker"
    ]


def test_label_sanitising_obeys_gcp_rules() -> None:
    labels = naming.labels(
        (("Team Name", "ML/Platform"), ("9lives", "x" * 80), ("svai-model-version", "V1.2")),
        svai_app="Demo",
    )
    assert labels["team-name"] == "ml-platform"
    assert labels["k-9lives"].startswith("x") and len(labels["k-9lives"]) == 63
    assert labels["svai-model-version"] == "v1-2"
    assert labels["svai-app"] == "demo"
    assert list(labels) == sorted(labels)


def test_names_fit_gcp_limits_and_are_deterministic() -> None:
    long = "A_very-long deployment name that keeps going and going"
    assert 6 <= len(naming.account_id(long, "worker")) <= 30
    assert naming.account_id(long, "worker") == naming.account_id(long, "worker")
    assert naming.account_id(long, "worker") != naming.account_id(long, "submit")
    assert len(naming.bucket_name("my-project", long)) <= 63
    endpoint = naming.endpoint_id("p", "app", "api")
    assert endpoint.isdigit() and len(endpoint) == 10 and endpoint[0] != "0"


def test_cpu_service_has_warm_pool_guards_probes_and_boost() -> None:
    plan = sync_plan("gcp", min_instances=2, max_instances=7)
    service = lower(plan).get("svc-api").args
    template = service["template"]
    assert template["scaling"] == {"min_instance_count": 2, "max_instance_count": 7}
    assert template["max_instance_request_concurrency"] == 8
    assert template["timeout"] == "30s"
    container = template["containers"][0]
    assert container["resources"]["startup_cpu_boost"] is True
    assert container["resources"]["cpu_idle"] is True
    assert container["startup_probe"]["http_get"]["path"] == "/readyz"
    assert container["liveness_probe"]["http_get"]["path"] == "/healthz"
    assert "node_selector" not in template
    assert container["commands"] == ["python"]


def test_l4_service_gets_the_settings_cloud_run_requires() -> None:
    deployment = lower(_gpu_plan())
    template = deployment.get("svc-api").args["template"]
    limits = template["containers"][0]["resources"]["limits"]
    assert template["node_selector"] == {"accelerator": "nvidia-l4"}
    assert limits == {"cpu": "4", "memory": "16384Mi", "nvidia.com/gpu": "1"}
    assert template["containers"][0]["resources"]["cpu_idle"] is False
    assert template["execution_environment"] == "EXECUTION_ENVIRONMENT_GEN2"
    assert any("minimum Cloud Run instance" in note for note in notes(deployment))


def test_unknown_gpu_and_unknown_offering_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no GPU"):
        lower(_with_compute(sync_plan("gcp"), "api", gpu_type="nvidia-k80", gpu_count=1))
    with pytest.raises(UsageError, match="not supported on GCP"):
        lower(sync_plan("gcp", "gcp.appengine.standard", "container"))
    with pytest.raises(UsageError, match="cannot compile a plan for 'aws'"):
        lower(sync_plan("aws"))


def test_invoker_is_authenticated_unless_the_spec_says_none() -> None:
    iam = lower(sync_plan("gcp", auth="iam"))
    assert _invokers(iam) == []
    assert not _of_type(iam, T.GATEWAY)
    public = lower(sync_plan("gcp", auth="none"))
    assert _invokers(public) == [("sentiment-api", "allUsers")]
    keyed = lower(sync_plan("gcp", auth="api-key"), billing_account=BILLING)
    members = _invokers(keyed)
    assert len(members) == 1 and members[0][1] != "allUsers"
    assert members[0][1] == Concat(("serviceAccount:", Ref("sa-gateway", "email")))
    assert [a.id for a in pending(keyed)] == ["apigateway.create_api_key"]


def test_gateway_openapi_carries_auth_quota_and_backends() -> None:
    plan = async_plan("gcp", auth="api-key")
    config = lower(plan).get("api-config").args
    contents = config["openapi_documents"][0]["document"]["contents"]
    assert isinstance(contents, Rendered)
    urls = ("https://status.example", "https://submit.example")  # roles sorted: status, submit
    doc = json.loads(base64.b64decode(contents.render(urls)))
    assert doc["swagger"] == "2.0"
    assert doc["paths"]["/jobs"]["post"]["x-google-backend"]["address"] == (
        "https://submit.example/jobs"
    )
    status = doc["paths"]["/jobs/{id}"]["get"]
    assert status["x-google-backend"]["path_translation"] == "APPEND_PATH_TO_ADDRESS"
    assert status["parameters"][0]["name"] == "id"
    limit = doc["x-google-management"]["quota"]["limits"][0]
    assert limit["values"]["STANDARD"] == 3000  # 50 rps x 60


def test_jwt_document_names_issuer_audience_and_jwks() -> None:
    plan = sync_plan("gcp", auth="jwt")
    text = render_openapi("t", VERSION, plan.entry, {"api": "https://api.example"})
    jwt = json.loads(text)["securityDefinitions"]["jwt"]
    assert jwt["x-google-issuer"] == "https://issuer.example.com/"
    assert jwt["x-google-jwks_uri"] == "https://issuer.example.com/.well-known/jwks.json"
    assert jwt["x-google-audiences"] == "svai-clients"
    assert "x-google-management" not in json.loads(text)


def test_async_subscription_dead_letters_backs_off_and_covers_the_worker_timeout() -> None:
    deployment = lower(async_plan("gcp", worker_timeout_s=120.0, max_receive_count=7))
    sub = deployment.get("sub-jobs").args
    assert sub["ack_deadline_seconds"] == 120
    assert sub["dead_letter_policy"]["max_delivery_attempts"] == 7
    assert sub["retry_policy"] == {"minimum_backoff": "2s", "maximum_backoff": "300s"}
    assert sub["push_config"]["oidc_token"]["service_account_email"] == Ref("sa-push", "email")
    assert sub["push_config"]["push_endpoint"] == Concat((Ref("svc-worker", "uri"), PUSH_PATH))
    assert deployment.get("sub-dlq").args["topic"] == "summarize-jobs-dlq"
    agent_roles = {
        (s.token, s.args["role"]) for s in deployment.resources() if s.key.startswith("iam-pubsub-")
    }
    assert (T.TOPIC_IAM, "roles/pubsub.publisher") in agent_roles
    assert (T.SUBSCRIPTION_IAM, "roles/pubsub.subscriber") in agent_roles


def test_limits_of_pubsub_are_clamped_with_a_note() -> None:
    deployment = lower(async_plan("gcp", worker_timeout_s=900.0, max_receive_count=3))
    sub = deployment.get("sub-jobs").args
    assert sub["ack_deadline_seconds"] == PUSH_ACK_MAX_S
    assert sub["dead_letter_policy"]["max_delivery_attempts"] == 5
    assert any("600 s push" in note for note in notes(deployment))
    assert any("clamped to 5" in note for note in notes(deployment))


def test_vertex_endpoint_lists_what_pulumi_cannot_do_as_pending_actions() -> None:
    plan = sync_plan("gcp", "gcp.vertex.online_prediction", min_instances=0)
    deployment = lower(plan, billing_account=BILLING)
    endpoint = _of_type(deployment, T.VERTEX_ENDPOINT)[0].args
    assert endpoint["dedicated_endpoint_enabled"] is True
    assert [a.id for a in pending(deployment)] == ["vertex.upload_model", "vertex.deploy_model"]
    deploy = pending(deployment)[1]
    assert deploy.url.endswith(f"/endpoints/{endpoint['name']}:deployModel")
    resources = deploy.body["deployedModel"]["dedicatedResources"]
    assert resources["machineSpec"] == {"machineType": "n1-standard-4"}
    assert resources["minReplicaCount"] == 1  # Vertex v1 keeps one replica
    assert any("scale to zero is preview" in note for note in notes(deployment))


def test_function_builds_from_the_uploaded_code_zip() -> None:
    plan = sync_plan("gcp", "gcp.cloudrun.functions")
    deployment = lower(plan, build_dir=".svai/build/sentiment/v-1/gcp-us-central1")
    fn = deployment.get("fn-api").args
    code = deployment.get("function-code")
    assert fn["build_config"]["entry_point"] == "predict"
    assert fn["build_config"]["source"]["storage_source"] == {
        "bucket": deployment.get("artifacts").args["name"],
        "object": code.args["name"],
    }
    # The object is what `svai build` wrote for this target, uploaded into the artifact bucket.
    assert code.args["bucket"] == deployment.get("artifacts").args["name"]
    assert code.args["source"] == FileSource(
        ".svai/build/sentiment/v-1/gcp-us-central1/function.zip"
    )
    assert "function-code" in deployment.get("fn-api").depends_on
    config = fn["service_config"]
    assert config["max_instance_count"] == 20 and config["min_instance_count"] == 1
    assert config["secret_environment_variables"] == [
        {"key": "HF_TOKEN", "project_id": "svai-project", "secret": "hf-token", "version": "latest"}
    ]


def test_secret_is_bound_to_its_reader_only_and_before_the_service() -> None:
    plan = async_plan("gcp")
    deployment = lower(plan)
    grants = _of_type(deployment, T.SECRET_IAM)
    assert sorted(g.key for g in grants) == ["iam-worker-secret-read-secret-HF_TOKEN"]
    assert grants[0].args["secret_id"] == "hf-token"
    assert grants[0].args["role"] == "roles/secretmanager.secretAccessor"
    keys = [s.key for s in deployment.resources()]
    assert keys.index(grants[0].key) < keys.index("svc-worker")
    assert grants[0].key in deployment.get("svc-worker").depends_on


def test_secret_references_parse() -> None:
    assert parse_secret("projects/p/secrets/s/versions/3", None) == ("p", "s", "3")
    assert parse_secret("projects/p/secrets/s", None) == ("p", "s", "latest")
    assert parse_secret("s:2", "q") == ("q", "s", "2")


def test_customer_key_reaches_every_store_and_its_service_agents() -> None:
    key = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"
    deployment = lower(async_plan("gcp", "gcp.cloudrun.service", customer_key=key))
    assert deployment.get("artifacts").args["encryption"] == {"default_kms_key_name": key}
    assert deployment.get("topic-jobs").args["kms_key_name"] == key
    assert deployment.get("registry").args["kms_key_name"] == key
    agents = {s.key for s in _of_type(deployment, T.CRYPTO_KEY_IAM) if "agent" in s.key}
    assert {"key-storage-agent", "key-pubsub-agent", "key-artifactregistry-agent"} <= agents
    assert not _of_type(deployment, T.KEY_RING)


def test_alarms_map_to_metrics_and_cold_start_is_skipped_with_a_note() -> None:
    deployment = lower(async_plan("gcp"))
    filters = [
        s.args["conditions"][0]["condition_threshold"]["filter"]
        for s in _of_type(deployment, T.ALERT_POLICY)
    ]
    assert any("oldest_unacked_message_age" in f for f in filters)
    assert any("num_undelivered_messages" in f and "jobs-dlq-hold" in f for f in filters)
    assert any("request_latencies" in f for f in filters)
    assert any("cold_start_rate" in note for note in notes(deployment))


def test_budget_needs_a_billing_account() -> None:
    without = lower(sync_plan("gcp"))
    assert not _of_type(without, T.BUDGET)
    assert "billing.configure_account" in [a.id for a in pending(without)]
    budget = lower(sync_plan("gcp"), billing_account=BILLING).get("budget").args
    assert budget["amount"]["specified_amount"]["units"] == "200"
    assert [r["spend_basis"] for r in budget["threshold_rules"]] == [
        "FORECASTED_SPEND",
        "CURRENT_SPEND",
    ]
    assert budget["budget_filter"]["labels"] == {"svai-app": "sentiment"}


def test_canary_rollout_splits_traffic_between_revisions() -> None:
    args = lower(sync_plan("gcp", canary=True)).get("svc-api").args
    assert [(t["revision"], t["percent"]) for t in args["traffics"]] == [
        ("sentiment-api-mv-0a1b2c3d4", 90),
        ("sentiment-api-mv-3f2a9c1d0", 10),
    ]
    assert args["template"]["revision"] == "sentiment-api-mv-3f2a9c1d0"


def test_every_dependency_is_created_first() -> None:
    for plan in (sync_plan("gcp", auth="api-key"), async_plan("gcp", customer_key="k")):
        seen: set[str] = set()
        for spec in lower(plan, billing_account=BILLING).resources():
            assert isinstance(spec, ResourceSpec)
            assert set(spec.depends_on) <= seen, spec.key
            seen.add(spec.key)


def test_lowering_and_rules_do_not_import_pulumi() -> None:
    here = str(Path(__file__).resolve().parent)
    script = (
        f"import sys;sys.path.insert(0,{here!r});from plans import async_plan;"
        "from svai.backends.gcp import GcpBackend;b=GcpBackend();b.lower(async_plan('gcp'));"
        "b.rules();print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
