"""The real stores on 127.0.0.1 as fixtures, all seen through the same small seeding interface."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from servers import (
    AZURITE_ACCOUNT,
    Hub,
    Repo,
    azurite_command,
    azurite_connection,
    start_azurite,
    start_gcs,
    start_moto,
)

STORES = ["s3", "gs", "azure", "hf"]


@dataclass
class Seeded:
    """A store with the credentials to reach it and a way to put objects into it."""

    scheme: str
    endpoint: str
    env: dict[str, str]
    no_credentials: dict[str, str | None]
    client: Any
    extra: dict[str, Any] = field(default_factory=dict)

    def endpoint_env(self, url: str) -> dict[str, str]:
        """The variables that send the client to ``url`` (a proxy) instead of the store."""
        if self.scheme == "s3":
            return {"AWS_ENDPOINT_URL": url}
        if self.scheme == "gs":
            return {"STORAGE_EMULATOR_HOST": url}
        if self.scheme == "azure":
            return {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection(url)}
        return {"HF_ENDPOINT": url}

    def put(self, name: str, data: bytes) -> str:
        """Store one object; return its location with the store's own version where it has one."""
        if self.scheme == "s3":
            out = self.client.put_object(Bucket="models", Key=name, Body=data)
            return f"s3://models/{name}?versionId={out['VersionId']}"
        if self.scheme == "gs":
            blob = self.client.bucket("models").blob(name)
            blob.upload_from_string(data)
            return f"gs://models/{name}#{blob.generation}"
        if self.scheme == "azure":
            self.client.get_blob_client(name).upload_blob(data, overwrite=True)
            return f"https://{AZURITE_ACCOUNT}.blob.core.windows.net/models/{name}"
        repo, _, filename = name.replace("/", "-").rpartition("-")
        commit = self.client.add(f"org/{repo}", {filename: data})
        return f"hf://org/{repo}@{commit}/{filename}"

    def put_folder(self, prefix: str, files: dict[str, bytes]) -> str:
        """Store a folder; return its location (pinned by the caller's manifest digest)."""
        if self.scheme == "hf":
            commit = self.client.add(f"org/{prefix}", files)
            return f"hf://org/{prefix}@{commit}"
        for name, data in files.items():
            self.put(f"{prefix}/{name}", data)
        base = {
            "s3": "s3://models",
            "gs": "gs://models",
            "azure": f"https://{AZURITE_ACCOUNT}.blob.core.windows.net/models",
        }[self.scheme]
        return f"{base}/{prefix}/"


@pytest.fixture(scope="session")
def s3_store() -> Iterator[Seeded]:
    import boto3

    server, endpoint = start_moto()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service
    }
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket="models")
    client.put_bucket_versioning(Bucket="models", VersioningConfiguration={"Status": "Enabled"})
    no_creds = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
    }
    yield Seeded("s3", endpoint, env, no_creds, client)
    server.stop()


@pytest.fixture(scope="session")
def gs_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    pytest.importorskip(
        "gcp_storage_emulator", reason="pip install gcp-storage-emulator (dev extra)"
    )
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    server, endpoint = start_gcs()
    # An Application Default Credentials file in the format gcloud writes; the emulator takes
    # no tokens, so none is ever requested with it.
    adc = tmp_path_factory.mktemp("adc") / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "svai-tests",
                "client_secret": "unused",
                "refresh_token": "unused",
            }
        )
    )
    env = {
        "STORAGE_EMULATOR_HOST": endpoint,
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "GOOGLE_CLOUD_PROJECT": "svai-tests",
        "NO_GCE_CHECK": "True",
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        client = storage.Client(project="svai-tests", credentials=AnonymousCredentials())
        client.create_bucket("models")
    empty = tmp_path_factory.mktemp("gcloud")
    no_creds = {"GOOGLE_APPLICATION_CREDENTIALS": None, "CLOUDSDK_CONFIG": str(empty)}
    yield Seeded("gs", endpoint, env, no_creds, client)
    server.stop()


@pytest.fixture(scope="session")
def azure_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    if azurite_command() is None:
        if os.environ.get("SVAI_REQUIRE_AZURITE") == "1":
            pytest.fail(
                "SVAI_REQUIRE_AZURITE=1 but azurite-blob is not on PATH (.ci/run installs it)"
            )
        pytest.skip("Azurite is not installed here (`npm install -g azurite`; .ci/run installs it)")
    from azure.storage.blob import BlobServiceClient

    process, endpoint = start_azurite(tmp_path_factory.mktemp("azurite"))
    connection = azurite_connection(endpoint)
    service = BlobServiceClient.from_connection_string(connection)
    container = service.create_container("models")
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection}
    no_creds = {
        "AZURE_STORAGE_CONNECTION_STRING": None,
        "AZURE_STORAGE_KEY": None,
        "AZURE_STORAGE_SAS_TOKEN": None,
        "AZURE_CONFIG_DIR": str(tmp_path_factory.mktemp("az")),
    }
    yield Seeded("azure", endpoint, env, no_creds, container)
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def hf_store() -> Iterator[Seeded]:
    with Hub() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}
        yield Seeded("hf", hub.url, env, {}, hub)


@pytest.fixture(params=STORES)
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Seeded:
    seeded: Seeded = request.getfixturevalue(f"{request.param}_store")
    for key, value in seeded.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SVAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return seeded


def apply_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


LLM_FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "support-llm"
"""The tiny random-weight Llama that stands in for examples/llm-gpu's models."""


def seed_llm_fallback(hub_store: Seeded, spec: str) -> None:
    """Serve the tiny Llama from the loopback hub as the repository and commit ``spec``'s
    ``fallback.model`` pins, so a build can fetch the fallback into the package."""
    (line,) = (line for line in spec.splitlines() if "model: hf://" in line)
    repo, commit = line.split("hf://", 1)[1].strip().split("@")
    files = {
        p.relative_to(LLM_FOLDER).as_posix(): p.read_bytes()
        for p in LLM_FOLDER.rglob("*")
        if p.is_file()
    }
    hub_store.client.repos[repo] = Repo(commit, files, {})
