"""Errors raised while optimising a model at build time.

The tree is shallow on purpose::

    OptimizeError                    any build-time optimisation failure
    ├── UnsupportedModelError        svai cannot convert this kind of model (or a converter is missing)
    └── ConversionMismatchError      the converted model does not reproduce the original closely enough

Quantisation never raises for a quality drop: it falls back to fp32 and says so in its result.
"""

from __future__ import annotations

__all__ = ["ConversionMismatchError", "OptimizeError", "UnsupportedModelError"]


class OptimizeError(Exception):
    """Base class of every error raised by :mod:`svai.build.optimize`."""


class UnsupportedModelError(OptimizeError):
    """The model's type has no converter here, or the converter package is not installed."""


class ConversionMismatchError(OptimizeError):
    """The ONNX model's outputs differ from the original model's by more than the tolerance.

    Attributes:
        max_abs_diff: The largest absolute difference seen on the check sample.
        tolerance: The tolerance that was exceeded.
    """

    def __init__(self, message: str, *, max_abs_diff: float, tolerance: float) -> None:
        super().__init__(message)
        self.max_abs_diff = max_abs_diff
        self.tolerance = tolerance
