"""AWS Signature Version 4 for the runtime's S3 GETs and Secrets Manager reads, stdlib only.

Why not boto3: the start-time fetch runs on every cold start, and importing boto3 costs a cold
start about as much as a small model takes to load (``bench/bench_fetch.py`` measures it); a
container image does not carry boto3 at all. Signing a GET is a few HMACs over a canonical
request (AWS's published algorithm); ``tests/sources/test_start_fetch.py`` checks this signer
byte for byte against botocore's S3 signer and fetches through it from a moto server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import urllib.parse
from collections.abc import Callable, Mapping

__all__ = [
    "Credentials",
    "aws_region",
    "credentials_from_environment",
    "s3_signer",
    "sign_v4",
]


_EMPTY = hashlib.sha256(b"").hexdigest()


class Credentials:
    """An access key pair, with the session token Lambda and task roles hand out."""

    def __init__(self, key: str, secret: str, token: str | None = None) -> None:
        """Hold one key pair."""
        self.key, self.secret, self.token = key, secret, token


def credentials_from_environment(env: Mapping[str, str] = os.environ) -> Credentials:
    """The service identity's keys as Lambda (and the tests) set them in the environment.

    Raises:
        KeyError: ``AWS_ACCESS_KEY_ID`` or ``AWS_SECRET_ACCESS_KEY`` is not set.
    """
    return Credentials(
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN")
    )


def s3_signer(
    credentials: Credentials, region: str, *, now: Callable[[], dt.datetime] | None = None
) -> Callable[[str, str, Mapping[str, str]], dict[str, str]]:
    """A signer for S3 requests with no body: ``(method, url, headers) -> headers to add``."""
    clock = now or (lambda: dt.datetime.now(dt.UTC))

    def sign(method: str, url: str, headers: Mapping[str, str]) -> dict[str, str]:
        return sign_v4(credentials, region, "s3", method, url, headers, b"", clock())

    return sign


def sign_v4(
    credentials: Credentials,
    region: str,
    service: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    when: dt.datetime,
) -> dict[str, str]:
    """Sign one request for ``service``; return the headers to add (date, hash, Authorization).

    The path is encoded once, as S3 expects; the other services svai calls (Secrets Manager)
    post to ``/``, where single and double encoding agree.
    """
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    parts = urllib.parse.urlsplit(url)
    payload = hashlib.sha256(body).hexdigest() if body else _EMPTY
    added = {"x-amz-date": stamp, "x-amz-content-sha256": payload}
    if credentials.token:
        added["x-amz-security-token"] = credentials.token
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed.update(added)
    signed["host"] = parts.netloc
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(urllib.parse.unquote(parts.path or "/"), safe="/~"),
            _query(parts.query),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{credentials.secret}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return added


def aws_region(env: Mapping[str, str]) -> str:
    """The region the service runs in (Lambda sets ``AWS_REGION``)."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(pairs)
    )
