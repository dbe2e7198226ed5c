"""``svai.backends.gcp``: the GCP backend of the fourth stage (plan -> pulumi-gcp resources).

``lowering`` (with ``context``, ``compute``, ``messaging``, ``gateway``, ``monitoring``,
``openapi`` and ``naming``) turns a :class:`svai.ir.DeploymentPlan` into resource specs without
Pulumi; ``component`` creates them as one Pulumi component per deployment shape, registering each
resource by type token through ``provider`` (``pulumi_gcp`` itself is never imported, only its
version is read); ``rules`` checks the recorded resources.
"""

from svai.backends.gcp.backend import GcpBackend

__all__ = ["GcpBackend"]
