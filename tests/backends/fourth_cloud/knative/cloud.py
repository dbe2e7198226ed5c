"""Knative on Kubernetes as one :class:`~svai.backends.cloud.Cloud` (a test skeleton)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from svai.backends.cloud import Cloud, any_set

__all__ = ["CLOUD"]


def _credentials(env: Mapping[str, str], home: Path) -> bool:
    return any_set(env, ("KUBECONFIG",)) or (home / ".kube" / "config").is_file()


CLOUD = Cloud(
    name="knative",
    backend="svai.backends.knative.backend:KnativeBackend",
    sdk="pulumi_kubernetes",
    region_key="kubernetes:context",
    rule_prefix="KN",
    registry_login="docker login {registry}",
    credentials=_credentials,
    missing_credentials="no Kubernetes credentials: set KUBECONFIG or write ~/.kube/config",
    offerings=frozenset({"knative.service"}),
    async_workers=frozenset(),
)
"""Knative."""
