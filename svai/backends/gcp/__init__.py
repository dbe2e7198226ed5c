"""``svai.backends.gcp``: the GCP backend of the fourth stage (plan -> pulumi-gcp resources).

``lowering`` (with ``context``, ``compute``, ``messaging``, ``gateway``, ``monitoring``,
``openapi`` and ``naming``) turns a :class:`svai.ir.DeploymentPlan` into resource specs without
Pulumi; ``component`` creates them as one Pulumi component per deployment shape; ``rules``
checks the recorded resources. ``pulumi_gcp`` is imported only when a program runs, and then
only the subpackages the deployment uses.
"""

from svai.backends.gcp.backend import GcpBackend

__all__ = ["GcpBackend"]
