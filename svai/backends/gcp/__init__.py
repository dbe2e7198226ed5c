"""``svai.backends.gcp``: the GCP backend of the fourth stage (plan -> pulumi-gcp resources).

``lowering`` (with ``context``, ``compute``, ``messaging``, ``gateway``, ``monitoring``,
``openapi`` and ``naming``) turns a :class:`svai.ir.DeploymentPlan` into resource specs without
Pulumi; ``components`` creates them as one Pulumi component per deployment shape, registering each
resource by type token through ``provider`` (``pulumi_gcp`` itself is never imported, only its
version is read); ``rules`` checks the recorded resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svai.backends.gcp.backend import GcpBackend

__all__ = ["GcpBackend"]


def __getattr__(name: str) -> Any:
    # Loading ``cloud`` (the registry does, for any cloud) must not load the backend.
    if name == "GcpBackend":
        from svai.backends.gcp.backend import GcpBackend

        return GcpBackend
    raise AttributeError(name)
