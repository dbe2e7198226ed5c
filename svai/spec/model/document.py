"""The whole ``svai.yaml``: :class:`Spec`, the root every section hangs from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from svai.spec.model.artifact import Model
from svai.spec.model.base import FieldError, Strict
from svai.spec.model.observability import Observability
from svai.spec.model.operations import Cache, Reliability, Tenancy
from svai.spec.model.rollout import Rollout
from svai.spec.model.scalars import Name
from svai.spec.model.security import Security
from svai.spec.model.targets import Target
from svai.spec.model.traffic import Api, Gpu, Latency, Traffic

__all__ = ["Spec"]


class Spec(Strict):
    """A ``svai.yaml``: one model, its targets for latency and traffic, and where to deploy it."""

    version: Literal[1]
    """Spec format version; must be 1."""

    @field_validator("version", mode="before")
    @classmethod
    def _not_bool(cls, value: object) -> object:
        # Literal[1] compares with ==, and True == 1 in Python; YAML `version: yes` is not 1.
        if isinstance(value, bool):
            raise ValueError("expected the integer 1, got a boolean")
        return value

    name: Name
    """Deployment name: lowercase letters, digits and dashes, 2-40 characters; used in resource names."""
    description: Annotated[str, Field(max_length=500)] | None = None
    """Free text for people."""
    model: Model
    """The model and how to prepare it."""
    api: Api = Field(default_factory=Api)
    """How callers reach it."""
    latency: Latency = Field(default_factory=Latency)
    """Latency targets."""
    traffic: Traffic
    """Expected traffic."""
    gpu: Gpu = Field(default_factory=Gpu)
    """GPU needs of the model (default: none)."""
    cache: Cache = Field(default_factory=Cache)
    """Result cache."""
    reliability: Reliability = Field(default_factory=Reliability)
    """Retries, dead letters, guards, timeouts."""
    rollout: Rollout = Field(default_factory=Rollout)
    """Release strategy."""
    security: Security = Field(default_factory=Security)
    """Secrets, network, encryption."""
    observability: Observability = Field(default_factory=Observability)
    """Alarms, budget, logs."""
    tenancy: Tenancy = Field(default_factory=Tenancy)
    """Multi-tenant serving (default: single tenant)."""
    targets: list[Target] = Field(min_length=1, max_length=16)
    """Where to deploy."""

    @model_validator(mode="after")
    def _token_targets(self) -> Spec:
        # Token targets and token traffic describe text generation; elsewhere they mean nothing.
        if self.model.task == "text-generation":
            return self
        written = [
            (("latency", "ttft"), self.latency.ttft),
            (("latency", "tpot"), self.latency.tpot),
            (("traffic", "tokens"), self.traffic.tokens),
        ]
        for where, value in written:
            if value is not None:
                raise FieldError(
                    where,
                    f"{'.'.join(where)} is for `model.task: text-generation` "
                    f"(task here: {self.model.task or 'not set'})",
                )
        return self
