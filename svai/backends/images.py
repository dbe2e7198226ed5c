"""The container image of a deployment, built and pushed by ``pulumi up`` (pulumi-docker-build).

Image, endpoint and worker-container targets run the image ``svai build`` wrote a context for
(``Dockerfile`` and the files beside it). Each backend adds one ``docker-build:index:Image``
per deployment that needs one: BuildKit builds the context for ``linux/amd64`` and pushes it
under the tag the compute resources name (the deployment's registry, tagged with the model
version), and those resources depend on it, so a new version's image exists before anything
runs it. Nothing is built on ``preview``.

Registry credentials come from the Docker configuration of the machine running ``svai apply``
(``docker login`` or a credential helper): the command per cloud is its
:attr:`Cloud.registry_login <svai.backends.cloud.Cloud.registry_login>`.
The build needs a Docker engine (or a BuildKit endpoint) there.

This module is plain data (lowering imports it without Pulumi); the provider that registers the
resource is :data:`svai.backends.docker_build.DOCKER_BUILD`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["IMAGE", "PLATFORM", "image_args"]

IMAGE = "docker-build:index:Image"
PLATFORM = "linux/amd64"


def image_args(tags: Sequence[Any], build_dir: str) -> dict[str, Any]:
    """The image build of ``build_dir`` (a ``svai build`` target folder), pushed as ``tags``.

    Args:
        tags: The full image references the compute resources use (strings or outputs).
        build_dir: The target's build folder, holding the ``Dockerfile``.
    """
    return {
        "tags": list(tags),
        "context": {"location": build_dir},
        "dockerfile": {"location": f"{build_dir}/Dockerfile"},
        "platforms": [PLATFORM],
        "push": True,
        "build_on_preview": False,
    }
