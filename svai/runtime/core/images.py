"""Images in requests: base64 in JSON, decoded with Pillow, processed with numpy.

This is the image processor of a Hugging Face image classifier -- resize, center crop, rescale,
normalise, channels first, in that order, as transformers' PIL backend does -- without
transformers or torch at serve time. ``svai build`` reads the folder's
``preprocessor_config.json`` into the runtime config's ``model.processor``::

    {"size": [224, 224], "shortest_edge": null, "crop": null, "resample": 2,
     "rescale": 0.00392156862745098, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}

The resize is to a fixed ``size`` ([height, width]) or, with ``shortest_edge``, keeps the
aspect ratio (the long edge truncated, as transformers computes it); ``crop`` then cuts the
center [height, width], padding with zeros where the image is smaller. Any step may be
``null`` (skipped); ``resample`` is Pillow's filter number, as transformers stores it.
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
        known = {"size", "shortest_edge", "crop", "resample", "rescale", "mean", "std"}
        unknown = set(settings) - known
        if unknown:
            raise ConfigError(f"model.processor: unknown key(s) {', '.join(sorted(unknown))}")
        self.size = self._pair(settings.get("size"), "size")
        self.crop = self._pair(settings.get("crop"), "crop")
        edge = settings.get("shortest_edge")
        if edge is not None and not (type(edge) is int and edge > 0):
            raise ConfigError("model.processor.shortest_edge: expected a positive integer or null")
        if edge is not None and self.size is not None:
            raise ConfigError("model.processor: size and shortest_edge are alternatives")
        self.shortest_edge: int | None = edge
        self.resample = int(settings.get("resample", 2))
        rescale = settings.get("rescale")
        self.rescale = None if rescale is None else float(rescale)
        self.mean = self._channels(settings.get("mean"), "mean")
        self.std = self._channels(settings.get("std"), "std")

    @staticmethod
    def _pair(value: Any, name: str) -> tuple[int, int] | None:
        if value is None:
            return None
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(type(v) is int and v > 0 for v in value)
        ):
            raise ConfigError(f"model.processor.{name}: expected [height, width] or null")
        return value[0], value[1]

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
            target = self.size or self._keep_aspect(image.size)
            if target is not None:
                height, width = target
                image = image.resize((width, height), resample=self.resample, reducing_gap=None)
            array = np.asarray(image, dtype=np.float32)
            if self.crop is not None:
                array = _center_crop(array, self.crop)
            if self.rescale is not None:
                array = array * np.float32(self.rescale)
            if self.mean is not None and self.std is not None:
                array = (array - self.mean) / self.std
            pixels.append(array.transpose(2, 0, 1))
        return np.ascontiguousarray(np.stack(pixels), dtype=np.float32)

    def _keep_aspect(self, size: tuple[int, int]) -> tuple[int, int] | None:
        """(height, width) with the short edge at ``shortest_edge``, the long one truncated."""
        if self.shortest_edge is None:
            return None
        width, height = size
        short, long = (width, height) if width <= height else (height, width)
        scaled = int(self.shortest_edge * long / short)
        return (scaled, self.shortest_edge) if width <= height else (self.shortest_edge, scaled)


def _center_crop(array: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    """The center ``crop`` of a [height, width, 3] array, zero-padded where it is smaller."""
    height, width = array.shape[:2]
    crop_height, crop_width = crop
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    if top >= 0 and left >= 0:
        return array[top : top + crop_height, left : left + crop_width]
    # Smaller than the crop: centre it on zeros first (the pad rounds up, as transformers does).
    padded_height, padded_width = max(height, crop_height), max(width, crop_width)
    padded = np.zeros((padded_height, padded_width, array.shape[2]), dtype=array.dtype)
    pad_top, pad_left = -(-(padded_height - height) // 2), -(-(padded_width - width) // 2)
    padded[pad_top : pad_top + height, pad_left : pad_left + width] = array
    top, left = max(0, top + pad_top), max(0, left + pad_left)
    return padded[top : top + crop_height, left : left + crop_width]
