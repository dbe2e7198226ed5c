"""The typed output of GCP lowering: resource specs, late-bound references and pending actions.

Lowering (``svai.backends.gcp.lowering``) is pure: it returns :class:`GcpDeployment`, a list of
:class:`ResourceSpec` whose ``args`` are the keyword arguments of the pulumi-gcp constructor
(snake_case, as the Python SDK takes them). Values that only exist once another resource is
created (a service URL, a service agent's address) are :class:`Ref` or :class:`Rendered`
placeholders that the component resolves into Pulumi outputs. Nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from svai.backends.blueprint import FileSource

__all__ = [
    "FileSource",
    "GcpDeployment",
    "PendingAction",
    "Ref",
    "Rendered",
    "ResourceSpec",
    "StorageAgent",
]


@dataclass(frozen=True, slots=True)
class Ref:
    """An output attribute of another resource of the deployment, formatted into a string.

    Attributes:
        key: The :attr:`ResourceSpec.key` of the resource.
        attr: The output attribute, e.g. ``uri`` or ``member``.
        template: ``str.format`` template applied to the value (``{}`` is the value).
        fallback: Used when the output resolves to nothing (offline preview under mocks).
    """

    key: str
    attr: str
    template: str = "{}"
    fallback: str = ""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A string rendered from several :class:`Ref` values once they are known."""

    refs: tuple[Ref, ...]
    render: Callable[[tuple[str, ...]], str] = field(compare=False)


@dataclass(frozen=True, slots=True)
class StorageAgent:
    """The Cloud Storage service agent of the project, as an IAM member.

    Its address is ``service-<project number>@gs-project-accounts.iam.gserviceaccount.com``.
    The number is read from the Pub/Sub service identity created by ``pubsub_key`` (whose email
    is ``service-<number>@gcp-sa-pubsub...``), which avoids a provider data-source call.
    """

    pubsub_key: str

    def member(self, pubsub_email: str | None) -> str:
        """Return the storage agent member given the Pub/Sub agent's email."""
        local = (pubsub_email or "").partition("@")[0]
        number = local.removeprefix("service-") if local.startswith("service-") else ""
        if not number:
            return "serviceAccount:storage-agent@gs-project-accounts.iam.gserviceaccount.com"
        return f"serviceAccount:service-{number}@gs-project-accounts.iam.gserviceaccount.com"


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One resource to create.

    Attributes:
        key: Unique key inside the deployment; also the Pulumi logical name.
        type: The Pulumi type token, e.g. ``gcp:cloudrunv2/service:Service``.
        args: Constructor keyword arguments (may contain :class:`Ref` / :class:`Rendered`).
        depends_on: Keys of resources that must exist first (IAM on a resource named by string).
        ignore_changes: Input properties ``pulumi up`` must not update after creation (what
            the release gate job moves: a Cloud Run service's ``traffics``).
    """

    key: str
    type: str
    args: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PendingAction:
    """A step Pulumi cannot express, which svai performs (or asks for) after ``pulumi up``.

    Attributes:
        id: Stable id, e.g. ``vertex.deploy_model``.
        reason: Why this is not a Pulumi resource.
        method: HTTP method of the Google API call, or ``manual`` for a human step.
        url: API URL (placeholders in ``{braces}`` are filled from earlier steps).
        body: JSON body of the call.
    """

    id: str
    reason: str
    method: Literal["POST", "PATCH", "manual"]
    url: str
    body: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the action as JSON-ready data (recorded on the deployment component)."""
        return {
            "id": self.id,
            "reason": self.reason,
            "method": self.method,
            "url": self.url,
            "body": dict(self.body),
        }


@dataclass(frozen=True, slots=True)
class GcpDeployment:
    """Everything one plan lowers to on GCP.

    Attributes:
        shape: ``realtime`` (pattern A) or ``async`` (pattern B); picks the component type.
        name: Deployment name (sanitised), the component's logical name.
        resources: Resource specs in creation order (a spec only depends on earlier ones).
        pending: Steps performed outside Pulumi.
        notes: Adjustments lowering made to fit GCP limits (clamped values, skipped alarms).
    """

    shape: Literal["realtime", "async"]
    name: str
    resources: tuple[ResourceSpec, ...]
    pending: tuple[PendingAction, ...]
    notes: tuple[str, ...]

    def get(self, key: str) -> ResourceSpec:
        """Return the spec with ``key``; raises ``KeyError`` when absent."""
        for spec in self.resources:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def of_type(self, token: str) -> tuple[ResourceSpec, ...]:
        """Return the specs of one type token, in creation order."""
        return tuple(s for s in self.resources if s.type == token)
