"""The ``svai.yaml`` spec as the user writes it: pydantic models, strict, every field described.

This module is the single source of truth for the file format; ``svai/spec/svai.schema.json`` is
generated from it (``svai schema``) and a test fails when the two drift. Values keep the form the
user wrote (``"250ms"``, ``"512MiB"``); :func:`svai.spec.resolve.resolve` turns them into numbers
and fills defaults.

Checks that span fields live in ``model_validator`` methods here; they are the pydantic-only part
of validation (JSON Schema cannot express them) and are listed in ``docs/spec.md``.
"""

from svai.spec.clouds import Cloud
from svai.spec.model.artifact import Fallback, Model, Optimize, Trust
from svai.spec.model.base import FieldError, SecretValueError
from svai.spec.model.document import Spec
from svai.spec.model.observability import (
    Alarms,
    Drift,
    DriftThreshold,
    FeatureThreshold,
    Observability,
)
from svai.spec.model.operations import Backoff, Cache, Idempotency, Reliability, Tenancy
from svai.spec.model.rollout import Gates, RollbackOn, Rollout
from svai.spec.model.scalars import Duration, Framework, RuntimeKind, Size
from svai.spec.model.security import EncryptionKeys, Network, SecretRefs, Security
from svai.spec.model.targets import Overrides, Target
from svai.spec.model.traffic import Api, Batch, Gpu, Jwt, Latency, Tokens, Traffic

__all__ = [
    "Alarms",
    "Api",
    "Backoff",
    "Batch",
    "Cache",
    "Cloud",
    "Drift",
    "DriftThreshold",
    "Duration",
    "EncryptionKeys",
    "Fallback",
    "FeatureThreshold",
    "FieldError",
    "Framework",
    "Gates",
    "Gpu",
    "Idempotency",
    "Jwt",
    "Latency",
    "Model",
    "Network",
    "Observability",
    "Optimize",
    "Overrides",
    "Reliability",
    "RollbackOn",
    "Rollout",
    "RuntimeKind",
    "SecretRefs",
    "SecretValueError",
    "Security",
    "Size",
    "Spec",
    "Target",
    "Tenancy",
    "Tokens",
    "Traffic",
    "Trust",
]
