"""The ``security`` section: secret references, network placement, encryption keys."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, create_model

from svai.spec.clouds import SPEC_FIELDS, CloudFields, Shape
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


def _per_cloud(shape: Callable[[CloudFields], Shape | None], typed: Any) -> dict[str, Any]:
    """One optional field per cloud that has ``shape``: ``typed(pattern)`` described by it."""
    return {
        cloud: (typed(found.pattern) | None, Field(default=None, description=found.description))
        for cloud, fields in SPEC_FIELDS.items()
        if (found := shape(fields)) is not None
    }


def _key(pattern: str | None) -> Any:
    return Annotated[str, Field(pattern=pattern)]


# One field per cloud, from the clouds' rows (svai.spec.clouds); read by cloud name
# (``getattr(refs, cloud)``), never as a fixed attribute.
if TYPE_CHECKING:
    SecretRefs = Strict
    EncryptionKeys = Strict
else:
    SecretRefs = create_model(
        "SecretRefs",
        __base__=Strict,
        __module__=__name__,
        __doc__="Where one secret lives in each cloud's secret manager; never the value itself.",
        **_per_cloud(lambda fields: fields.secret, lambda _: SecretRef),
    )
    EncryptionKeys = create_model(
        "EncryptionKeys",
        __base__=Strict,
        __module__=__name__,
        __doc__="Customer-managed encryption keys per cloud (omit for provider-managed keys).",
        **_per_cloud(lambda fields: fields.key, _key),
    )


class Network(Strict):
    """Network placement."""

    private: bool = False
    """Serve only inside a private network (VPC / VNet)."""
    egress: Literal["all", "private-only", "none"] = "all"
    """Outbound traffic the runtime may make."""


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
