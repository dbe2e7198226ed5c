"""``svai.backends.aws``: the fourth stage for AWS — a :class:`svai.ir.DeploymentPlan` to pulumi-aws.

``cloud`` is AWS as one :class:`~svai.backends.cloud.Cloud`; ``blueprint`` lowers the plan to
groups, one per deployment shape, with ``lowering`` (argument dicts and the simple shapes),
``foundation``, ``services``, ``network``, ``streaming``, ``claims``, ``start_fetch``, ``policy``
(IAM statements) and AWS's own ``markers``; ``components`` builds one ``ComponentResource`` per group, registering
resources by type token through ``provider``; ``backend`` builds a plan's blueprint (the release
controls of ``deployments`` among its groups) and exports its outputs; ``rules`` checks the recorded
resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svai.backends.aws.backend import AwsBackend

__all__ = ["AwsBackend"]


def __getattr__(name: str) -> Any:
    # Importing the argument helpers must not import Pulumi, so the backend is loaded
    # only when asked for (the registry does exactly that).
    if name == "AwsBackend":
        from svai.backends.aws.backend import AwsBackend

        return AwsBackend
    raise AttributeError(name)
