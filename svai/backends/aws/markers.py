"""AWS's own blueprint markers, beside the shared ones (:mod:`svai.backends.blueprint`).

:mod:`svai.backends.aws.components` turns them into Pulumi outputs: :class:`Account` (the
account id of the credentials in use, when the spec does not name one). An endpoint's guardrails
are plain data (:func:`svai.backends.aws.deployments.endpoint_deployment_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Account"]


@dataclass(frozen=True, slots=True)
class Account:
    """The AWS account id of the credentials in use (``aws.getCallerIdentity``)."""
