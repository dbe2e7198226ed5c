"""What every spec section shares: strict parsing, and the errors a section may raise."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FieldError", "SecretValueError", "Strict"]


class FieldError(ValueError):
    """A cross-field problem that one field of the section is best blamed for.

    The loader reports it at that field (``latency.p95``) rather than at the whole section, when
    the field is present in the file.
    """

    def __init__(self, field: str | tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.field: tuple[str, ...] = (field,) if isinstance(field, str) else field


class SecretValueError(ValueError):
    """A secret *value* written where a secret manager reference belongs."""


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,
    )
