"""The explicit map from a cloud name to its backend, imported only when that cloud is planned.

Backends never register themselves: this table is the whole list, so a one-cloud spec never
imports another cloud's SDK, and a missing SDK is reported as the pip extra that provides it.
"""

from __future__ import annotations

import importlib
from typing import Any

from svai.backends.base import Backend
from svai.errors import ToolMissingError, UsageError

__all__ = ["ASYNC_WORKERS", "BACKENDS", "OFFERINGS", "get_backend"]

BACKENDS: dict[str, str] = {
    "aws": "svai.backends.aws:AwsBackend",
    "gcp": "svai.backends.gcp:GcpBackend",
    "azure": "svai.backends.azure:AzureBackend",
}
"""Cloud name -> ``module:Class`` of its backend."""

OFFERINGS: dict[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "aws.lambda.zip",
            "aws.lambda.image",
            "aws.lambda.snapstart",
            "aws.sagemaker.serverless",
            "aws.sagemaker.realtime",
        }
    ),
    "gcp": frozenset({"gcp.cloudrun.service", "gcp.cloudrun.functions", "gcp.vertex.endpoint"}),
    "azure": frozenset(
        {"azure.containerapps", "azure.functions.flex_consumption", "azure.ml.online_endpoint"}
    ),
}
"""Catalog offerings each backend builds; the recommender never picks another one."""

ASYNC_WORKERS: dict[str, frozenset[str]] = {
    cloud: offerings - {"gcp.vertex.endpoint", "azure.ml.online_endpoint"}
    for cloud, offerings in OFFERINGS.items()
}
"""Offerings each backend can run as the worker of the async pattern: Pub/Sub pushes to Cloud
Run, not to a Vertex endpoint, and an Azure ML online endpoint serves synchronous requests
only."""

_SDKS: dict[str, str] = {
    "aws": "pulumi_aws",
    "gcp": "pulumi_gcp",
    "azure": "pulumi_azure_native",
}
"""Cloud name -> the Pulumi provider SDK its backend needs."""


def get_backend(cloud: str, **options: Any) -> Backend:
    """Import and instantiate the backend for ``cloud``.

    Args:
        cloud: ``aws``, ``gcp`` or ``azure``.
        **options: Passed to the backend's constructor (e.g. ``build_dir``).

    Returns:
        A fresh backend object.

    Raises:
        UsageError: ``cloud`` is not a known cloud.
        ToolMissingError: The Pulumi SDK for ``cloud`` (or Pulumi itself) is not installed; the
            message names the pip extra that installs it.
    """
    target = BACKENDS.get(cloud)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise UsageError(f"unknown cloud {cloud!r}; svai knows: {known}")
    module_name, _, class_name = target.partition(":")
    try:
        # Backend packages may load their SDK lazily, so the class lookup can fail too.
        backend_class = getattr(importlib.import_module(module_name), class_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in {_SDKS[cloud], "pulumi"}:
            raise
        raise ToolMissingError(
            f"the Pulumi SDK for {cloud} ({missing}) is not installed; "
            f"install it with: pip install 'svai[{cloud}]'"
        ) from exc
    backend: Backend = backend_class(**options)
    return backend
