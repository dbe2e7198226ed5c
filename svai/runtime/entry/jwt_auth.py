"""Bearer JWTs checked the way an API Gateway JWT authorizer checks them, in the standard library.

A Lambda function URL authenticates with IAM or not at all, so where the spec says
``api.auth: jwt`` the function checks the token itself, as the HTTP API's authorizer does for
the other routes: the issuer's keys from ``{issuer}/.well-known/openid-configuration`` ->
``jwks_uri``; an RSA signature (``RS256``, ``RS384``, ``RS512``, the algorithms API Gateway
accepts), verified as RSASSA-PKCS1-v1_5 with Python's integers; ``iss`` equal to the issuer;
``aud`` (or ``client_id``) naming the audience; ``exp`` and ``nbf`` with 60 s of leeway. Keys
are cached and fetched again once when a token names a key id not seen yet (a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["AuthError", "JwtVerifier"]

_LEEWAY_S = 60.0
# DER DigestInfo prefixes of RFC 8017 section 9.2, note 1.
_DIGESTS: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "RS256": (hashlib.sha256, bytes.fromhex("3031300d060960864801650304020105000420")),
    "RS384": (hashlib.sha384, bytes.fromhex("3041300d060960864801650304020205000430")),
    "RS512": (hashlib.sha512, bytes.fromhex("3051300d060960864801650304020305000440")),
}


class AuthError(Exception):
    """The caller is not authenticated (401) or the token is refused (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # the issuer's https URL
        return json.loads(response.read())


class JwtVerifier:
    """Checks ``Authorization: Bearer <jwt>`` against one issuer and audience.

    Args:
        issuer: The spec's ``api.jwt.issuer``.
        audience: The spec's ``api.jwt.audience``.
        fetch: Reads a JSON document by URL (the discovery document, then the key set).
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        fetch: Callable[[str], Any] = _fetch_json,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, once its signature and claims hold.

        Raises:
            AuthError: 401 without a bearer token or with a bad one; 403 for another audience.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "a bearer token is required (Authorization: Bearer <jwt>)")
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise AuthError(401, "the bearer token is not a JWT")
        header, claims = _part(parts[0]), _part(parts[1])
        signature = _b64(parts[2])
        alg = header.get("alg")
        if alg not in _DIGESTS:
            raise AuthError(401, f"token algorithm {alg!r} is not accepted (RS256/384/512)")
        n, e = self._key(str(header.get("kid", "")))
        hash_fn, prefix = _DIGESTS[str(alg)]
        signed = f"{parts[0]}.{parts[1]}".encode()
        if not _rsa_pkcs1_ok(n, e, prefix + hash_fn(signed).digest(), signature):
            raise AuthError(401, "the token's signature does not verify")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != self.issuer:
            raise AuthError(401, "the token was not issued by this API's issuer")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or exp + _LEEWAY_S < now:
            raise AuthError(401, "the token has expired")
        if isinstance(nbf, int | float) and nbf - _LEEWAY_S > now:
            raise AuthError(401, "the token is not valid yet")
        aud = claims.get("aud", claims.get("client_id"))
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise AuthError(403, "the token is for another audience")

    def _key(self, kid: str) -> tuple[int, int]:
        with self._lock:
            if kid not in self._keys:
                self._keys = self._load()  # first use, or a key rotated in since
            key = self._keys.get(kid)
        if key is None:
            raise AuthError(401, f"the issuer has no signing key {kid!r}")
        return key

    def _load(self) -> dict[str, tuple[int, int]]:
        discovery = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            jwks = self._fetch(str(self._fetch(discovery)["jwks_uri"]))
        except Exception as exc:  # the issuer is down or answers nonsense: nobody gets in
            raise AuthError(401, f"the issuer's signing keys cannot be read: {exc}") from None
        keys = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig":
                n = int.from_bytes(_b64(str(jwk["n"])), "big")
                keys[str(jwk.get("kid", ""))] = (n, int.from_bytes(_b64(str(jwk["e"])), "big"))
        return keys


def _rsa_pkcs1_ok(n: int, e: int, digest_info: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 verification (RFC 8017 section 8.2.2)."""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k or k < len(digest_info) + 11:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    expected = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    return hmac.compare_digest(em, expected)


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AuthError(401, "the bearer token is not a JWT") from None


def _part(text: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(text))
    except ValueError:
        raise AuthError(401, "the bearer token is not a JWT") from None
    if not isinstance(value, dict):
        raise AuthError(401, "the bearer token is not a JWT")
    return value
