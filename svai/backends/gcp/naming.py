"""GCP names and labels: deterministic resource ids that satisfy each service's spelling rules.

GCP is strict and inconsistent about names: labels are lowercase and at most 63 characters,
service-account ids are 6-30 characters, bucket names are global, Vertex endpoint ids are
numeric. Every function here is pure, so the same plan always yields the same names.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "LABEL_MAX",
    "account_id",
    "bucket_name",
    "endpoint_id",
    "label_key",
    "label_value",
    "labels",
    "resource_id",
    "short_version",
]

LABEL_MAX = 63
_INVALID = re.compile(r"[^a-z0-9_-]+")
_ID_INVALID = re.compile(r"[^a-z0-9-]+")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def label_value(value: str) -> str:
    """Return ``value`` as a valid GCP label value: lowercase ``[a-z0-9_-]``, <= 63 characters."""
    cleaned = _INVALID.sub("-", value.lower())
    if len(cleaned) > LABEL_MAX:
        # Keep a digest of the whole value so two long values stay distinct after truncation.
        cleaned = cleaned[: LABEL_MAX - 9] + "-" + _digest(value, 8)
    return cleaned


def label_key(key: str) -> str:
    """Return ``key`` as a valid GCP label key (also starts with a lowercase letter)."""
    cleaned = label_value(key)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = label_value("k-" + cleaned)
    return cleaned


def labels(tags: tuple[tuple[str, str], ...], **extra: str) -> dict[str, str]:
    """Return sanitised labels from the plan's tags plus ``extra`` (extra wins on a clash).

    When two tags sanitise to the same key the first in sorted order is kept, so the result is
    deterministic.
    """
    out: dict[str, str] = {}
    for key, value in sorted(tags):
        out.setdefault(label_key(key), label_value(value))
    for key, value in extra.items():
        out[label_key(key.replace("_", "-"))] = label_value(value)
    return dict(sorted(out.items()))


def resource_id(*parts: str, max_len: int = 63) -> str:
    """Return a DNS-like id ``part-part`` (lowercase, starts with a letter, <= ``max_len``)."""
    joined = _ID_INVALID.sub("-", "-".join(parts).lower()).strip("-")
    joined = re.sub("-{2,}", "-", joined)
    if not joined or not joined[0].isalpha():
        joined = "s-" + joined
    if len(joined) > max_len:
        joined = joined[: max_len - 7].rstrip("-") + "-" + _digest("-".join(parts), 6)
    return joined


def account_id(app: str, service: str) -> str:
    """Return a service-account id (6-30 characters) for ``service`` of deployment ``app``."""
    base = resource_id(app, service, max_len=30)
    if len(base) < 6:
        base = resource_id(app, service, "sa", max_len=30)
    return base.ljust(6, "0")


def bucket_name(project: str | None, app: str) -> str:
    """Return the artifact bucket's name: global, so the project id (or a digest) is part of it."""
    scope = project or "svai"
    return resource_id(scope, app, "artifacts", _digest(f"{scope}/{app}", 6))


def endpoint_id(project: str | None, app: str, service: str) -> str:
    """Return a numeric Vertex endpoint id (no leading zero, 10 digits) derived from the names."""
    number = int(_digest(f"{project}/{app}/{service}", 12), 16) % 9_000_000_000
    return str(1_000_000_000 + number)


def short_version(model_version: str) -> str:
    """Return the first 12 id-safe characters of a model version (for revision names)."""
    return _ID_INVALID.sub("", model_version.lower())[:12] or "v0"
