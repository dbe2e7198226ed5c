"""AWS's own blueprint markers, beside the shared ones (:mod:`svai.backends.blueprint`).

:mod:`svai.backends.aws.components` turns them into Pulumi outputs: :class:`Account` (the
account id of the credentials in use, when the spec does not name one) and :class:`Guardrails` (a
SageMaker endpoint's deployment guardrails, still built by hand in
:mod:`svai.backends.aws.deployments`).
"""

from __future__ import annotations

from dataclasses import dataclass

from svai.ir import DeploymentPlan, Service

__all__ = ["Account", "Guardrails"]


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
