"""Images in requests: base64 in JSON, decoded with Pillow, processed with numpy.

This is the image processor of a Hugging Face image classifier (ViT-style: resize to a fixed
height and width, rescale, normalise, channels first) without transformers or torch at serve
time. ``svai build`` reads the folder's ``preprocessor_config.json`` into the runtime config's
``model.processor``::

    {"size": [224, 224], "resample": 2, "rescale": 0.00392156862745098,
     "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}

``size``, ``rescale``, ``mean`` and ``std`` may be ``null`` (that step is skipped); ``resample``
is Pillow's filter number, as transformers stores it.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from svai.runtime.core.errors import ConfigError, InvalidInputError

__all__ = ["MAX_PIXELS", "ImageProcessor", "decode_images"]

MAX_PIXELS = 40_000_000
"""Largest image (width x height) a request may carry: a small PNG can decode to gigabytes."""


def decode_images(inputs: Any) -> list[Any]:
    """Decode ``inputs`` -- one image or a list -- into RGB Pillow images.

    An image is a base64 string of the file's bytes (PNG, JPEG, ...) or ``{"b64": "..."}``, the
    form Vertex AI uses for binary data in JSON.

    Raises:
        InvalidInputError: not base64, not an image, or larger than ``MAX_PIXELS``.
    """
    from PIL import Image, UnidentifiedImageError

    items = inputs if isinstance(inputs, list) else [inputs]
    if not items:
        raise InvalidInputError("$.inputs: expected at least one image", path="$.inputs")
    images = []
    for index, item in enumerate(items):
        path = f"$.inputs[{index}]" if isinstance(inputs, list) else "$.inputs"
        text = item.get("b64") if isinstance(item, dict) and set(item) == {"b64"} else item
        if not isinstance(text, str):
            raise InvalidInputError(
                f'{path}: expected an image as a base64 string or {{"b64": "..."}}', path=path
            )
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{path}: not valid base64", path=path) from None
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidInputError(
                    f"{path}: {width}x{height} pixels is over the limit of {MAX_PIXELS:,}",
                    path=path,
                )
            images.append(image.convert("RGB"))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise InvalidInputError(f"{path}: not a readable image ({exc})", path=path) from None
    return images


class ImageProcessor:
    """Resize, rescale and normalise RGB images into a ``[n, 3, height, width]`` float32 batch.

    Args:
        settings: the runtime config's ``model.processor`` (see the module docstring).

    Raises:
        ConfigError: a malformed ``model.processor``.
    """

    def __init__(self, settings: Mapping[str, Any]) -> None:
        unknown = set(settings) - {"size", "resample", "rescale", "mean", "std"}
        if unknown:
            raise ConfigError(f"model.processor: unknown key(s) {', '.join(sorted(unknown))}")
        size = settings.get("size")
        if size is not None and not (
            isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)
        ):
            raise ConfigError("model.processor.size: expected [height, width] or null")
        self.size: tuple[int, int] | None = (size[0], size[1]) if size else None
        self.resample = int(settings.get("resample", 2))
        rescale = settings.get("rescale")
        self.rescale = None if rescale is None else float(rescale)
        self.mean = self._channels(settings.get("mean"), "mean")
        self.std = self._channels(settings.get("std"), "std")

    @staticmethod
    def _channels(value: Any, name: str) -> np.ndarray | None:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32).reshape(-1)
        if array.shape != (3,):
            raise ConfigError(f"model.processor.{name}: expected three numbers (R, G, B)")
        return array

    def __call__(self, images: list[Any]) -> np.ndarray:
        """Return the processed batch, channels first."""
        pixels = []
        for image in images:
            if self.size is not None:
                height, width = self.size
                image = image.resize((width, height), resample=self.resample, reducing_gap=None)
            array = np.asarray(image, dtype=np.float32)
            if self.rescale is not None:
                array = array * np.float32(self.rescale)
            if self.mean is not None and self.std is not None:
                array = (array - self.mean) / self.std
            pixels.append(array.transpose(2, 0, 1))
        return np.ascontiguousarray(np.stack(pixels), dtype=np.float32)
