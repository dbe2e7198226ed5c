"""``svai.backends.aws``: the fourth stage for AWS — a :class:`svai.ir.DeploymentPlan` to pulumi-aws.

``cloud`` is AWS as one :class:`~svai.backends.cloud.Cloud`; ``lowering`` and ``policy`` lower
the plan to argument dicts and IAM statements (pure, no Pulumi import); ``components`` builds one
``ComponentResource`` per deployment shape from them, registering resources by type token through
``provider``; ``backend`` wires the components for a plan; ``rules`` checks the recorded
resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svai.backends.aws.backend import AwsBackend

__all__ = ["AwsBackend"]


def __getattr__(name: str) -> Any:
    # Importing the pure lowering modules must not import Pulumi, so the backend is loaded
    # only when asked for (the registry does exactly that).
    if name == "AwsBackend":
        from svai.backends.aws.backend import AwsBackend

        return AwsBackend
    raise AttributeError(name)
