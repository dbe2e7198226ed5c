"""The ``security`` section: secret references, network placement, encryption keys."""

from __future__ import annotations

import math
from collections import Counter
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from svai.spec.model.base import SecretValueError, Strict

__all__ = ["EncryptionKeys", "Network", "SecretRefs", "Security"]


_SECRET_NAME = r"[A-Za-z0-9/_+=.@:\-]{1,256}"
_KNOWN_SECRET_PREFIXES = (
    "sk-",
    "sk_live_",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "xoxb-",
    "xoxp-",
    "AIza",
    "hf_",
)


def _looks_like_secret_value(text: str) -> bool:
    if text.startswith(_KNOWN_SECRET_PREFIXES) or text.startswith("-----BEGIN"):
        return True
    if len(text) < 24 or "/" in text or ":" in text:
        return False
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy > 4.2


def _check_secret_ref(value: object) -> object:
    if isinstance(value, str) and _looks_like_secret_value(value):
        raise SecretValueError(
            "this looks like a secret value; put the value in the cloud's secret manager and "
            "write its name or ARN here"
        )
    return value


SecretRef = Annotated[
    str,
    Field(pattern=rf"^{_SECRET_NAME}$"),
    BeforeValidator(_check_secret_ref),
]


class SecretRefs(Strict):
    """Where one secret lives in each cloud's secret manager; never the value itself."""

    aws: SecretRef | None = None
    """Secrets Manager name or ARN."""
    gcp: SecretRef | None = None
    """Secret Manager secret id (``projects/P/secrets/NAME`` or ``NAME``)."""
    azure: SecretRef | None = None
    """Key Vault secret (``VAULT/NAME``)."""


class Network(Strict):
    """Network placement."""

    private: bool = False
    """Serve only inside a private network (VPC / VNet)."""
    egress: Literal["all", "private-only", "none"] = "all"
    """Outbound traffic the runtime may make."""


class EncryptionKeys(Strict):
    """Customer-managed encryption keys per cloud (omit for provider-managed keys)."""

    aws: (
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/\S+$")]
        | None
    ) = None
    """KMS key ARN."""
    gcp: (
        Annotated[
            str, Field(pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
        ]
        | None
    ) = None
    """Cloud KMS key id."""
    azure: (
        Annotated[str, Field(pattern=r"^https://[a-z0-9-]+\.vault\.azure\.net/keys/\S+$")] | None
    ) = None
    """Key Vault key URL."""


class Security(Strict):
    """Secrets, network and encryption."""

    secrets: dict[Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")], SecretRefs] = Field(
        default_factory=dict,
        max_length=64,
        # pydantic publishes the key pattern as patternProperties, which leaves other keys open;
        # closing them makes jsonschema refuse `openai-key:` just as svai does.
        json_schema_extra={"additionalProperties": False},
    )
    """Environment variable name -> where its value lives in each cloud's secret manager."""
    network: Network = Field(default_factory=Network)
    """Network placement and egress (default: public endpoint, open egress)."""
    encryption_key: EncryptionKeys | None = None
    """Customer-managed keys; provider-managed encryption is always on."""
