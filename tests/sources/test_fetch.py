"""Build-time fetch against real stores on 127.0.0.1: S3 (moto), Cloud Storage (emulator), Azure
Blob (Azurite) and a loopback hub, each through its own SDK."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import Hub, Proxy, free_port
from stores import Seeded, apply_env

from svai.build.fetch import cache_root, fetch_artifact, manifest_digest
from svai.errors import ToolMissingError, UsageError
from svai.spec.source import parse_source

REPO = Path(__file__).resolve().parents[2]


def payload(size: int, seed: str = "svai") -> bytes:
    """Deterministic bytes that do not compress (a stand-in for weights)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(uri: str, digest: str | None):  # type: ignore[no-untyped-def]
    return fetch_artifact(parse_source(uri), digest, stream=io.StringIO())


def unreachable(store: Seeded) -> dict[str, str]:
    return store.endpoint_env(f"http://127.0.0.1:{free_port()}")


def test_fetch_verifies_then_the_cache_answers_without_the_store(
    store: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(1_500_000, store.scheme)
    uri = store.put(f"fetch/{store.scheme}.onnx", data)
    got = fetch(uri, sha(data))
    assert (got.sha256, got.bytes, got.cached) == (sha(data), len(data), False)
    assert got.path.read_bytes() == data and got.path.name.endswith(".onnx")
    assert got.path.is_relative_to(cache_root() / "models" / "sha256")
    # Second build: no store, no credentials; the verified copy answers.
    apply_env(monkeypatch, {**store.no_credentials, **unreachable(store)})
    again = fetch(uri, sha(data))
    assert again.cached and again.path == got.path


def test_a_store_version_pin_is_remembered(store: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    if store.scheme == "azure":
        pytest.skip("Azurite keeps no blob versions; a blob is pinned by sha256 here")
    data = payload(200_000, f"pin-{store.scheme}")
    uri = store.put(f"pins/{store.scheme}.onnx", data)
    first = fetch(uri, None)  # pinned by versionId / generation / commit alone
    assert first.sha256 == sha(data) and not first.cached
    apply_env(monkeypatch, {**store.no_credentials, **unreachable(store)})
    assert fetch(uri, None).cached


def test_a_digest_mismatch_is_refused_and_nothing_is_cached(store: Seeded) -> None:
    data = payload(300_000, f"mismatch-{store.scheme}")
    uri = store.put(f"mismatch/{store.scheme}.onnx", data)
    with pytest.raises(UsageError) as caught:
        fetch(uri, "0" * 64)
    assert caught.value.exit_code == 2
    assert "model.artifact" in str(caught.value) and sha(data) in str(caught.value)
    assert uri in str(caught.value)
    assert not (cache_root() / "models" / "sha256" / sha(data)).exists()


def test_a_missing_object_is_refused_with_its_location(store: Seeded) -> None:
    present = store.put(f"present/{store.scheme}.onnx", b"x")
    missing = present.replace("present", "absent")
    if store.scheme == "hf":
        missing = present.rsplit("/", 1)[0] + "/absent.onnx"
    elif "?" in missing or "#" in missing:
        missing = missing.split("?")[0].split("#")[0]
    with pytest.raises(UsageError) as caught:
        fetch(missing, "1" * 64)
    assert caught.value.exit_code == 2 and missing in str(caught.value)


def test_missing_credentials_exit_3_naming_what_to_set(
    store: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(1000, f"creds-{store.scheme}")
    if store.scheme == "hf":
        hub: Hub = store.client
        commit = hub.add("org/private-model", {"model.bin": data}, private=True)
        uri = f"hf://org/private-model@{commit}/model.bin"
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        uri = store.put(f"creds/{store.scheme}.onnx", data)
        apply_env(monkeypatch, store.no_credentials)
    with pytest.raises(ToolMissingError) as caught:
        fetch(uri, sha(data))
    assert caught.value.exit_code == 3
    wanted = {
        "s3": "AWS_ACCESS_KEY_ID",
        "gs": "GOOGLE_APPLICATION_CREDENTIALS",
        "azure": "AZURE_STORAGE_CONNECTION_STRING",
        "hf": "HF_TOKEN",
    }[store.scheme]
    assert wanted in str(caught.value)
    if store.scheme == "hf":
        monkeypatch.setenv("HF_TOKEN", Hub.TOKEN)
        assert fetch(uri, sha(data)).path.read_bytes() == data


def test_an_interrupted_download_restarts_clean(store: Seeded, tmp_path: Path) -> None:
    data = payload(8_000_000, f"interrupt-{store.scheme}")
    uri = store.put(f"interrupt/{store.scheme}.onnx", data)
    script = (
        "import io, sys; from svai.build.fetch import fetch_artifact; "
        "from svai.spec.source import parse_source; "
        "fetch_artifact(parse_source(sys.argv[1]), sys.argv[2], stream=io.StringIO())"
    )
    with Proxy(store.endpoint, rate=2_000_000) as proxy:
        env = {**os.environ, **store.endpoint_env(proxy.url), "PYTHONPATH": str(REPO)}
        child = subprocess.Popen([sys.executable, "-c", script, uri, sha(data)], env=env)
        # Cut it off once part of the bytes went through (the count, not a clock, decides).
        deadline = time.monotonic() + 60
        while proxy.relayed < 1_000_000 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, "the download finished before it could be interrupted"
        child.kill()
        child.wait()
    assert not (cache_root() / "models" / "sha256" / sha(data)).exists()
    got = fetch(uri, sha(data))
    assert got.path.read_bytes() == data and not got.cached


def test_a_folder_is_pinned_by_its_manifest(store: Seeded, tmp_path: Path) -> None:
    files = {
        "model.onnx": payload(100_000, f"folder-{store.scheme}"),
        "tokenizer.json": b'{"version": "1.0"}',
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    }
    local = tmp_path / "expected"
    for name, data in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    digest = manifest_digest(local)
    uri = store.put_folder(f"folder-{store.scheme}", files)
    got = fetch(uri, digest)
    assert got.path.is_dir() and got.sha256 == digest
    assert {
        p.relative_to(got.path).as_posix(): p.read_bytes()
        for p in got.path.rglob("*")
        if p.is_file()
    } == files
    with pytest.raises(UsageError, match=digest):
        fetch(uri, "2" * 64)
