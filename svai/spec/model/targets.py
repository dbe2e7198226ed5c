"""The ``targets`` section: where to deploy, and the recommender's choices a target replaces."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from svai.spec.clouds import Cloud
from svai.spec.model.base import FieldError, Strict
from svai.spec.model.scalars import RuntimeKind, Size
from svai.spec.units import quote

__all__ = ["Overrides", "Target"]


class Overrides(Strict):
    """Per-target choices that replace the recommender's."""

    offering: Annotated[str, Field(pattern=r"^[a-z0-9_.\-]{3,64}$")] | None = None
    """Catalog offering id to use (``svai recommend --format json`` lists them)."""
    memory: Size | None = None
    """Instance memory."""
    vcpu: Annotated[float, Field(gt=0, le=96)] | None = None
    """vCPUs per instance."""
    min_instances: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Warm pool: instances kept ready (provisioned concurrency, min instances, always-ready)."""
    max_instances: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """Upper bound on instances."""
    concurrency: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Concurrent requests per instance."""

    @model_validator(mode="after")
    def _bounds(self) -> Overrides:
        if (
            self.min_instances is not None
            and self.max_instances is not None
            and self.min_instances > self.max_instances
        ):
            raise FieldError("min_instances", "min_instances must not exceed max_instances")
        return self


_REGION_PATTERNS: dict[str, tuple[str, str]] = {
    "aws": (r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", "us-east-1"),
    "gcp": (r"^[a-z]+-[a-z]+[0-9]{1,2}$", "us-central1"),
    "azure": (r"^[a-z]+[0-9]?$", "eastus"),
}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


_ACCOUNT_FIELDS = {"aws": "account", "gcp": "project", "azure": "subscription"}


class Target(Strict):
    """One place to deploy: a cloud, a region, and optionally a forced runtime kind."""

    # The per-cloud region spelling is published too, so editors and jsonschema agree with svai.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"cloud": {"const": cloud}}, "required": ["cloud"]},
                    "then": {"properties": {"region": {"pattern": pattern}}},
                }
                for cloud, (pattern, _) in _REGION_PATTERNS.items()
            ]
        }
    )

    cloud: Cloud
    """Cloud provider."""
    region: Annotated[str, Field(min_length=2, max_length=40)]
    """Region, in the provider's own spelling (``us-east-1``, ``us-central1``, ``eastus``)."""
    account: Annotated[str, Field(pattern=r"^[0-9]{12}$")] | None = None
    """AWS account id (12 digits)."""
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] | None = None
    """GCP project id."""
    subscription: (
        Annotated[
            str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        ]
        | None
    ) = None
    """Azure subscription id."""
    runtime: RuntimeKind = "auto"
    """Runtime kind: ``auto`` (recommended), ``faas``, ``container`` or ``endpoint``."""
    overrides: Overrides = Field(default_factory=Overrides)
    """Choices that replace the recommender's."""

    @field_validator("region")
    @classmethod
    def _region(cls, region: str, info: ValidationInfo) -> str:
        cloud = info.data.get("cloud")
        if cloud in _REGION_PATTERNS:
            pattern, example = _REGION_PATTERNS[cloud]
            if not re.fullmatch(pattern, region):
                raise ValueError(
                    f"{quote(region)} is not {_article(cloud)} {cloud} region name "
                    f"(for example `{example}`)"
                )
        return region

    @model_validator(mode="after")
    def _cloud_fields(self) -> Target:
        for cloud, field in _ACCOUNT_FIELDS.items():
            if cloud != self.cloud and getattr(self, field) is not None:
                raise FieldError(
                    field,
                    f"`{field}` belongs to {cloud} targets; "
                    f"{_article(self.cloud)} {self.cloud} target uses "
                    f"`{_ACCOUNT_FIELDS[self.cloud]}`",
                )
        return self
