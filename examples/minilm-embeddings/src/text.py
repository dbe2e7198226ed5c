"""Pre-processing: normalise the texts before tokenisation."""

from __future__ import annotations

import unicodedata
from typing import Any


def normalise(payload: dict[str, Any]) -> dict[str, Any]:
    """NFKC-normalise and collapse whitespace; the encoder receives ``{"inputs": [texts]}``."""
    texts = payload["texts"] if isinstance(payload.get("texts"), list) else [payload["text"]]
    return {"inputs": [" ".join(unicodedata.normalize("NFKC", t).split()) for t in texts]}
