"""The ``targets`` section: where to deploy, and the recommender's choices a target replaces."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from svai.spec.clouds import SPEC_FIELDS, Cloud
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


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _Placement(Strict):
    """A cloud and a region in it (the fields every target has, before the per-cloud ones)."""

    cloud: Cloud
    """Cloud provider."""
    region: Annotated[str, Field(min_length=2, max_length=40)]
    """Region, in the provider's own spelling (``us-east-1``, ``us-central1``, ``eastus``)."""

    @field_validator("region")
    @classmethod
    def _region(cls, region: str, info: ValidationInfo) -> str:
        cloud = info.data.get("cloud")
        fields = SPEC_FIELDS.get(cloud) if isinstance(cloud, str) else None
        if fields is None or fields.region is None or re.fullmatch(fields.region, region):
            return region
        raise ValueError(
            f"{quote(region)} is not {_article(str(cloud))} {cloud} region name "
            f"(for example `{fields.region_example}`)"
        )


def _account_fields() -> dict[str, Any]:
    """One optional field per cloud that names an account (``account``, ``project`` ...)."""
    return {
        fields.account_field: (
            Annotated[str, Field(pattern=fields.account.pattern)] | None,
            Field(default=None, description=fields.account.description),
        )
        for fields in SPEC_FIELDS.values()
        if fields.account_field is not None and fields.account is not None
    }


# The account fields come from the clouds' rows (svai.spec.clouds), between the placement and
# the runtime, where the schema and the error order have always had them.
if TYPE_CHECKING:
    _Accounts = _Placement
else:
    _Accounts = create_model(
        "_Accounts", __base__=_Placement, __module__=__name__, **_account_fields()
    )


class Target(_Accounts):
    """One place to deploy: a cloud, a region, and optionally a forced runtime kind."""

    # The per-cloud region spelling is published too, so editors and jsonschema agree with svai.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"cloud": {"const": cloud}}, "required": ["cloud"]},
                    "then": {"properties": {"region": {"pattern": fields.region}}},
                }
                for cloud, fields in SPEC_FIELDS.items()
                if fields.region is not None
            ]
        }
    )

    runtime: RuntimeKind = "auto"
    """Runtime kind: ``auto`` (recommended), ``faas``, ``container`` or ``endpoint``."""
    overrides: Overrides = Field(default_factory=Overrides)
    """Choices that replace the recommender's."""

    @property
    def account_id(self) -> str | None:
        """The account, project or subscription the target names (``None`` when it names none)."""
        field = SPEC_FIELDS[self.cloud].account_field
        value: str | None = getattr(self, field) if field is not None else None
        return value

    @model_validator(mode="after")
    def _cloud_fields(self) -> Target:
        own = SPEC_FIELDS[self.cloud].account_field
        for cloud, fields in SPEC_FIELDS.items():
            field = fields.account_field
            if field is None or cloud == self.cloud or getattr(self, field) is None:
                continue
            uses = f"uses `{own}`" if own is not None else "names no account"
            raise FieldError(
                field,
                f"`{field}` belongs to {cloud} targets; "
                f"{_article(self.cloud)} {self.cloud} target {uses}",
            )
        return self
