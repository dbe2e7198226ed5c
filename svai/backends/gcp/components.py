"""Pulumi components that create a lowered GCP deployment, registering resources by type token.

One :class:`pulumi.ComponentResource` per deployment shape: ``svai:gcp:RealtimeDeployment``
(pattern A) and ``svai:gcp:AsyncDeployment`` (pattern B). Each creates the children lowering
listed, with ``parent=self`` and explicit ``depends_on``, resolves late-bound references into
outputs, and records the steps Pulumi cannot perform (``pendingActions``) as a component input,
so the offline preview shows them next to the resources.

Resources are registered by type token (:mod:`svai.backends.tokens`): a plan never imports
``pulumi_gcp``, whose generated classes cost more than a second of imports per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.gcp.blueprint import FileSource, GcpDeployment, Ref, Rendered, StorageAgent
from svai.backends.gcp.provider import GCP
from svai.backends.tokens import Creator, by_package

__all__ = ["AsyncDeployment", "RealtimeDeployment", "build"]

create: Creator = by_package(GCP, DOCKER_BUILD)
"""How a resource is created; tests swap in :func:`svai.backends.tokens.create_with_sdk`."""


class _Deployment(pulumi.ComponentResource):
    """Creates every resource of a :class:`GcpDeployment` as a child of this component."""

    type_token = "svai:gcp:Deployment"

    def __init__(
        self,
        deployment: GcpDeployment,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            self.type_token,
            deployment.name,
            {
                "pendingActions": [a.to_dict() for a in deployment.pending],
                "notes": list(deployment.notes),
            },
            opts,
        )
        self.children: dict[str, pulumi.CustomResource] = {}
        for spec in deployment.resources:
            options = pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.children[key] for key in spec.depends_on],
                ignore_changes=list(spec.ignore_changes) or None,
            )
            args = {k: self._resolve(v) for k, v in spec.args.items()}
            self.children[spec.key] = create(spec.type, spec.key, args, opts=options)
        self.register_outputs({key: child.urn for key, child in sorted(self.children.items())})

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self._output(value)
        if isinstance(value, Rendered):
            render = value.render
            return pulumi.Output.all(*(self._output(r) for r in value.refs)).apply(
                lambda urls: render(tuple(str(u) for u in urls))
            )
        if isinstance(value, FileSource):
            return pulumi.FileAsset(value.path)
        if isinstance(value, StorageAgent):
            pubsub = self.children[value.pubsub_key]
            return pubsub.email.apply(value.member)  # type: ignore[attr-defined]
        if isinstance(value, Mapping):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._resolve(v) for v in value]
        return value

    def _output(self, ref: Ref) -> pulumi.Output[str]:
        child = self.children[ref.key]
        output: pulumi.Output[Any] = getattr(child, ref.attr)
        template, fallback = ref.template, ref.fallback
        # Under the offline preview's mocks, provider-computed outputs resolve to nothing.
        return output.apply(lambda v: template.format(v) if v else fallback)


class RealtimeDeployment(_Deployment):
    """Pattern A: API layer -> Cloud Run service / function / Vertex endpoint, with its support."""

    type_token = "svai:gcp:RealtimeDeployment"


class AsyncDeployment(_Deployment):
    """Pattern B: front services -> Pub/Sub (+ dead letters) -> pushed worker -> Firestore."""

    type_token = "svai:gcp:AsyncDeployment"


def build(deployment: GcpDeployment) -> _Deployment:
    """Create the component of ``deployment``'s shape (call inside a Pulumi program)."""
    if deployment.shape == "async":
        return AsyncDeployment(deployment)
    return RealtimeDeployment(deployment)
