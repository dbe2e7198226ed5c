"""Pre-processing: a job payload → page tensors for the layout model."""

from __future__ import annotations

import base64
from typing import Any


def rasterise(payload: dict[str, Any]) -> dict[str, Any]:
    """Decode the document and hand its bytes to the model (rasterising happens in the graph)."""
    document = base64.b64decode(payload["document"], validate=True)
    return {"inputs": [list(document[:4096])], "pages": payload.get("pages")}
