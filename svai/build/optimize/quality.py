"""Quality metrics that decide whether an int8 model may replace its fp32 original.

Each metric scores a candidate session against the fp32 reference session on a fixed sample;
higher is better, and the quantiser compares ``score(fp32) - score(int8)`` with a tolerance in
the metric's own units (0.01 = one point of accuracy, or 0.01 of mean cosine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

__all__ = [
    "Accuracy",
    "ArgmaxAgreement",
    "MeanCosine",
    "QualityMetric",
    "row_cosines",
    "run_output",
]

Feeds = Mapping[str, npt.NDArray[np.generic]]


class QualityMetric(Protocol):
    """Something that scores a model against the fp32 reference (higher is better)."""

    @property
    def name(self) -> str:
        """Short metric name for messages and reports."""
        ...

    def score(self, candidate: ort.InferenceSession, reference: ort.InferenceSession) -> float:
        """Score ``candidate``; ``reference`` is the fp32 model.

        Args:
            candidate: The session being judged (the fp32 model itself gives the baseline).
            reference: The fp32 session.

        Returns:
            The score, higher is better.
        """
        ...


def run_output(
    session: ort.InferenceSession, feeds: Feeds, output: str | None
) -> npt.NDArray[np.float64]:
    """Run ``session`` and return one output as float64.

    Args:
        session: The session to run.
        feeds: Input name to array.
        output: Output name; ``None`` takes the last output (probabilities for classifiers).

    Returns:
        The output array.
    """
    names = [o.name for o in session.get_outputs()]
    wanted = output if output is not None else names[-1]
    (result,) = session.run([wanted], dict(feeds))
    return np.asarray(result, dtype=np.float64)


def row_cosines(got: npt.ArrayLike, want: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return the cosine similarity of each row of ``got`` to the same row of ``want``.

    Args:
        got: Rows to compare (each row is flattened).
        want: Reference rows, as many as ``got``.

    Returns:
        One cosine per row (0 for a row of zeros).
    """
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(want, dtype=np.float64)
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.asarray(np.sum(a * b, axis=1) / np.maximum(norms, 1e-12), dtype=np.float64)


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of the argmax of a score output against true labels (labelled data)."""

    feeds: Feeds
    labels: npt.NDArray[np.int64]
    output: str | None = None
    name: str = field(default="accuracy")

    def score(self, candidate: ort.InferenceSession, reference: ort.InferenceSession) -> float:
        """Return the fraction of rows whose argmax equals the label."""
        predicted = np.argmax(run_output(candidate, self.feeds, self.output), axis=1)
        return float(np.mean(predicted == np.asarray(self.labels).reshape(-1)))


@dataclass(frozen=True)
class ArgmaxAgreement:
    """Share of rows whose argmax matches the fp32 model's (unlabelled data)."""

    feeds: Feeds
    output: str | None = None
    name: str = field(default="argmax agreement")

    def score(self, candidate: ort.InferenceSession, reference: ort.InferenceSession) -> float:
        """Return the fraction of rows where both models pick the same class."""
        got = np.argmax(run_output(candidate, self.feeds, self.output), axis=1)
        want = np.argmax(run_output(reference, self.feeds, self.output), axis=1)
        return float(np.mean(got == want))


@dataclass(frozen=True)
class MeanCosine:
    """Mean cosine similarity of each output row to the fp32 model's row (embeddings)."""

    feeds: Feeds
    output: str | None = None
    name: str = field(default="mean cosine")

    def score(self, candidate: ort.InferenceSession, reference: ort.InferenceSession) -> float:
        """Return the mean row-wise cosine similarity to the reference outputs."""
        got = run_output(candidate, self.feeds, self.output)
        want = run_output(reference, self.feeds, self.output)
        return float(np.mean(row_cosines(got, want)))
