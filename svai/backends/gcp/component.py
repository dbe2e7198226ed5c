"""Pulumi components that create a lowered GCP deployment (the only module importing pulumi_gcp).

One :class:`pulumi.ComponentResource` per deployment shape: ``svai:gcp:RealtimeDeployment``
(pattern A) and ``svai:gcp:AsyncDeployment`` (pattern B). Each creates the children lowering
listed, with ``parent=self`` and explicit ``depends_on``, resolves late-bound references into
outputs, and records the steps Pulumi cannot perform (``pendingActions``) as a component input,
so the offline preview shows them next to the resources.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from svai.backends.gcp.resources import GcpDeployment, Ref, Rendered, StorageAgent

__all__ = ["AsyncDeployment", "RealtimeDeployment", "build"]


def _constructor(token: str) -> Callable[..., pulumi.CustomResource]:
    """Return the pulumi-gcp class of ``token``, importing only its subpackage.

    Importing a pulumi-gcp subpackage loads every resource in it (about 0.1-0.3 s each), so a
    deployment pays only for the services it uses: no Vertex or API Gateway code for a plain
    Cloud Run service.
    """
    module = token.split(":")[1].split("/")[0]
    return getattr(importlib.import_module(f"pulumi_gcp.{module}"), token.rsplit(":", 1)[1])  # type: ignore[no-any-return]


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
            ctor = _constructor(spec.type)
            options = pulumi.ResourceOptions(
                parent=self, depends_on=[self.children[key] for key in spec.depends_on]
            )
            args = {k: self._resolve(v) for k, v in spec.args.items()}
            self.children[spec.key] = ctor(spec.key, opts=options, **args)
        self.register_outputs({key: child.urn for key, child in sorted(self.children.items())})

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self._output(value)
        if isinstance(value, Rendered):
            render = value.render
            return pulumi.Output.all(*(self._output(r) for r in value.refs)).apply(
                lambda urls: render(tuple(str(u) for u in urls))
            )
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
