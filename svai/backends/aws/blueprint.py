"""The AWS side of the shared blueprint (:mod:`svai.backends.blueprint`): its shapes and markers.

Lowering (:mod:`svai.backends.aws.lowering`) produces a :class:`Blueprint` whose groups are the
shapes below. Besides the shared markers (:class:`Ref`, :class:`Concat`, :class:`Rendered`,
:class:`FileSource`), AWS has two of its own, which :mod:`svai.backends.aws.components` turns
into Pulumi outputs: :class:`Account` (the account id of the credentials in use, when the spec
does not name one) and :class:`Guardrails` (a SageMaker endpoint's deployment guardrails, still
built by hand in :mod:`svai.backends.aws.deployments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from svai.backends.blueprint import Blueprint, Concat, Group, Ref, Rendered, ResourceSpec
from svai.ir import DeploymentPlan, Service

__all__ = [
    "Account",
    "Blueprint",
    "Concat",
    "Group",
    "Guardrails",
    "Ref",
    "Rendered",
    "ResourceSpec",
    "Shape",
]

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
]
"""The deployment shapes; each is one ``pulumi.ComponentResource`` type (``svai:aws:<shape>``)."""


@dataclass(frozen=True, slots=True)
class Account:
    """The AWS account id of the credentials in use (``aws.getCallerIdentity``)."""


@dataclass(frozen=True, slots=True)
class Guardrails:
    """A SageMaker endpoint's ``deployment_config``: blue/green guardrails on rollback alarms.

    :func:`svai.backends.aws.deployments.endpoint_deployment_config` builds it, creating the
    release's alarms as children of the endpoint's group (``group``) just before the endpoint.

    Attributes:
        plan: The plan.
        service: The endpoint service.
        endpoint_name: The endpoint's name (the alarms' dimension).
        group: Logical name of the endpoint's group (the alarms' parent).
    """

    plan: DeploymentPlan
    service: Service
    endpoint_name: str
    group: str
