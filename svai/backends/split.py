"""The resources of a recorded deployment that split traffic between model versions.

Each cloud says which of its resources carry the split and where (:attr:`Cloud.traffic
<svai.backends.cloud.Cloud.traffic>`); ``svai promote`` shows those inputs at every step.
"""

from __future__ import annotations

from collections.abc import Sequence

from svai.backends.base import RecordedResource
from svai.backends.cloud import SplitInputs
from svai.backends.registry import cloud

__all__ = ["traffic_inputs"]


def traffic_inputs(
    name: str, resources: Sequence[RecordedResource]
) -> tuple[tuple[str, str, SplitInputs], ...]:
    """Return ``(type, name, ((input path, value), ...))`` of each resource that routes traffic.

    Args:
        name: The cloud the resources were recorded for.
        resources: The recording, in its order (which the result keeps).
    """
    read = cloud(name).traffic
    return tuple((r.type, r.name, values) for r in resources for values in read(r))
