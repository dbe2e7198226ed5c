"""The AWS side of the shared blueprint (:mod:`svai.backends.blueprint`): its shapes and marker.

:func:`svai.backends.aws.lowering.lower` produces a :class:`~svai.backends.blueprint.Blueprint`
whose groups are the shapes below; besides the shared markers (:class:`Ref`, :class:`Concat`,
:class:`Rendered`, :class:`FileSource`), AWS has one of its own, :class:`Account` (the account id
of the credentials in use, when the spec names none), which :mod:`svai.backends.aws.components`
turns into a Pulumi output. An endpoint's guardrails are plain data
(:func:`svai.backends.aws.deployments.endpoint_deployment_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Account", "Shape"]

Shape = Literal[
    "Foundation",
    "KeyValueStore",
    "JobQueue",
    "PrivateNetwork",
    "Endpoint",
    "StreamingUrl",
    "FunctionService",
    "HttpApi",
    "Monitoring",
    "ReleaseGate",
]
"""The deployment shapes; each is one ``pulumi.ComponentResource`` type (``svai:aws:<shape>``)."""


@dataclass(frozen=True, slots=True)
class Account:
    """The AWS account id of the credentials in use (``aws.getCallerIdentity``)."""
