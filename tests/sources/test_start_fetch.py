"""The runtime's start-time fetch: parallel ranged GETs from loopback stores, digest checked."""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from pathlib import Path

import pytest
from servers import Proxy
from stores import Seeded
from test_fetch import payload

from svai.runtime.cloud.sigv4 import Credentials, s3_signer
from svai.runtime.core.download import DownloadError, Ranged, download


def _unsigned(method: str, url: str, headers: object) -> dict[str, str]:
    return {}


def test_sigv4_matches_botocore() -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    moment = dt.datetime(2026, 12, 5, 17, 36, 0, tzinfo=dt.UTC)
    url = "https://models.s3.eu-west-1.amazonaws.com/a%20b/model.onnx?versionId=v.1"
    ours = s3_signer(Credentials("AKID", "secret", "token"), "eu-west-1", now=lambda: moment)(
        "GET", url, {"Range": "bytes=0-99"}
    )
    request = AWSRequest(
        "GET",
        url,
        headers={"Range": "bytes=0-99", **{k: v for k, v in ours.items() if k != "Authorization"}},
    )
    auth = S3SigV4Auth(BotoCredentials("AKID", "secret", "token"), "s3", "eu-west-1")
    request.context["timestamp"] = moment.strftime("%Y%m%dT%H%M%SZ")
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert ours["Authorization"].endswith(f"Signature={signature}")


def test_s3_start_fetch_through_sigv4(s3_store: Seeded, tmp_path: Path) -> None:
    data = payload(5_000_000, "start-s3")
    s3_store.put("start/model.onnx", data)
    sign = s3_signer(Credentials("testing", "testing"), "us-east-1")
    spec = Ranged(
        f"{s3_store.endpoint}/models/start/model.onnx",
        len(data),
        hashlib.sha256(data).hexdigest(),
        sign,
        chunk=1 << 20,
        parallel=4,
    )
    with Proxy(s3_store.endpoint) as proxy:
        spec = Ranged(
            spec.url.replace(s3_store.endpoint, proxy.url),
            spec.size,
            spec.sha256,
            sign,
            chunk=spec.chunk,
            parallel=spec.parallel,
        )
        got = download(spec, tmp_path / "model.onnx")
        assert proxy.connections == 5  # one ranged GET per chunk
    assert got.read_bytes() == data
    # A second start finds the verified file and reads nothing.
    assert download(spec, got) == got


def test_gcs_start_fetch_and_a_wrong_digest_is_never_kept(gs_store: Seeded, tmp_path: Path) -> None:
    data = payload(3_000_000, "start-gs")
    gs_store.put("start/model.onnx", data)
    name = urllib.parse.quote("start/model.onnx", safe="")
    url = f"{gs_store.endpoint}/download/storage/v1/b/models/o/{name}?alt=media"
    good = Ranged(url, len(data), hashlib.sha256(data).hexdigest(), _unsigned, chunk=1 << 20)
    assert download(good, tmp_path / "model.onnx").read_bytes() == data
    bad = Ranged(url, len(data), "0" * 64, _unsigned, chunk=1 << 20)
    with pytest.raises(DownloadError, match="sha256"):
        download(bad, tmp_path / "other.onnx")
    assert list(tmp_path.iterdir()) == [tmp_path / "model.onnx"]
