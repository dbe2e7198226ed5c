"""The GCP side of the shared blueprint (:mod:`svai.backends.blueprint`): shapes, marker, actions.

Lowering (``svai.backends.gcp.lowering``) is pure: it returns a
:class:`~svai.backends.blueprint.Blueprint` of one group, the deployment, whose shape is
``RealtimeDeployment`` (pattern A) or ``AsyncDeployment`` (pattern B). Its specs' ``args`` are
the keyword arguments of the pulumi-gcp constructor (snake_case, as the Python SDK takes them).
Besides the shared markers (:class:`Ref`, :class:`Concat`, :class:`Rendered`,
:class:`FileSource`), GCP has one of its own, :class:`StorageAgent`, which
``svai.backends.gcp.components`` turns into a Pulumi output. The steps Pulumi cannot perform
(:class:`PendingAction`) and lowering's notes are the group's inputs, so the offline preview
shows them next to the resources. Nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from svai.backends.blueprint import (
    Blueprint,
    Concat,
    FileSource,
    Group,
    Ref,
    Rendered,
    ResourceSpec,
)

__all__ = [
    "Blueprint",
    "Concat",
    "FileSource",
    "Group",
    "PendingAction",
    "Ref",
    "Rendered",
    "ResourceSpec",
    "Shape",
    "StorageAgent",
    "Text",
    "join",
    "notes",
    "pending",
]

Shape = Literal["RealtimeDeployment", "AsyncDeployment"]
"""The deployment shapes; each is one ``pulumi.ComponentResource`` type."""

Text = str | Ref | Concat
"""A string argument: literal, or read off another resource once it exists."""


def join(*parts: Text) -> Text:
    """Return ``parts`` joined: a plain string when every part is one, else a :class:`Concat`."""
    if all(isinstance(part, str) for part in parts):
        return "".join(str(part) for part in parts)
    return Concat(parts)


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


def pending(blueprint: Blueprint) -> tuple[PendingAction, ...]:
    """Return the steps svai performs outside Pulumi, read back from the deployment's inputs."""
    return tuple(
        PendingAction(**action)
        for group in blueprint.groups
        for action in group.inputs.get("pendingActions", ())
    )


def notes(blueprint: Blueprint) -> tuple[str, ...]:
    """Return the adjustments lowering made to fit GCP limits (clamped values, skipped alarms)."""
    return tuple(note for group in blueprint.groups for note in group.inputs.get("notes", ()))
