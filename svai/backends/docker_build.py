"""pulumi-docker-build registered by type token (see :mod:`svai.backends.images`)."""

from __future__ import annotations

from svai.backends.images import IMAGE
from svai.backends.tokens import Provider

__all__ = ["DOCKER_BUILD"]

DOCKER_BUILD = Provider(
    "pulumi_docker_build",
    outputs={IMAGE: ("ref", "digest")},
    defaults={IMAGE: {"build_on_preview": True, "network": "default"}},
    secret_outputs={IMAGE: ["secrets"]},
)
"""pulumi-docker-build by type token (its tables are checked against the SDK in the tests)."""
