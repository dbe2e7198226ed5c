"""Deterministic Azure resource names that respect each service's naming rules.

Storage accounts, Key Vaults, container registries, Service Bus namespaces and Cosmos DB accounts
have globally unique DNS names, so they carry a short hash of (name, region, subscription); the
same plan always gets the same names, and two deployments of one name in two regions do not clash.
"""

from __future__ import annotations

import hashlib
import re

from svai.errors import UsageError
from svai.ir import DeploymentPlan

__all__ = [
    "compact_name",
    "dashed_name",
    "duration",
    "guid",
    "revision_suffix",
    "secret_name",
    "suffix",
    "vault_name",
]

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def suffix(plan: DeploymentPlan) -> str:
    """Return six hex characters that identify the plan's deployment (name, region, account)."""
    seed = f"{plan.name}|{plan.region}|{plan.account or ''}"
    return hashlib.sha256(seed.encode()).hexdigest()[:6]


def compact_name(plan: DeploymentPlan, prefix: str, max_len: int = 24) -> str:
    """Return ``<prefix><name><hash>``, lowercase letters and digits only (storage, registry)."""
    base = _NOT_ALNUM.sub("", plan.name.lower())
    room = max_len - len(prefix) - 6
    return f"{prefix}{base[:room]}{suffix(plan)}"


def dashed_name(plan: DeploymentPlan, prefix: str, max_len: int = 24) -> str:
    """Return ``<prefix>-<name>-<hash>`` with single dashes (Key Vault, Service Bus, Cosmos DB)."""
    base = _NOT_ALNUM.sub("-", plan.name.lower()).strip("-")
    room = max_len - len(prefix) - 8
    base = base[:room].strip("-")
    return f"{prefix}-{base}-{suffix(plan)}" if base else f"{prefix}-{suffix(plan)}"


def revision_suffix(version: str) -> str:
    """Return a Container Apps revision suffix for a model version (lowercase, dashes, <= 20)."""
    clean = _NOT_ALNUM.sub("-", version.lower()).strip("-")
    return clean[:20].strip("-") or "v"


def guid(*parts: str) -> str:
    """Return a stable GUID for a role assignment, derived from ``parts``.

    Role assignment names must be GUIDs; deriving them from the grant keeps them stable across
    runs, so an unchanged grant is never replaced.
    """
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def duration(seconds: float) -> str:
    """Return an ISO 8601 duration (``PT1M30S``) for a whole number of seconds (rounded up)."""
    total = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if secs or text == "PT":
        text += f"{secs}S"
    return text


def vault_name(plan: DeploymentPlan) -> str:
    """Return the Key Vault's name: the vault the secret refs name (``VAULT/NAME``), else generated.

    Raises:
        UsageError: The refs name more than one vault (one deployment, one vault).
    """
    named = sorted({s.ref.split("/", 1)[0] for s in plan.secrets if "/" in s.ref})
    if len(named) > 1:
        raise UsageError(f"Azure secret refs name several Key Vaults ({', '.join(named)}); use one")
    return named[0] if named else dashed_name(plan, "kv")


def secret_name(ref: str) -> str:
    """Return the secret's name inside the vault (``VAULT/NAME`` -> ``NAME``)."""
    return ref.rsplit("/", 1)[-1]
