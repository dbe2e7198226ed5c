"""OpenAI requests through the one route a managed endpoint passes to its container.

SageMaker sends every call to ``/invocations``, Vertex AI's ``rawPredict`` and
``streamRawPredict`` to the container's predict route (``AIP_PREDICT_ROUTE``), Azure ML's
``/score`` to the scoring route: the caller's body arrives, its path does not. For an engine
model, a body in OpenAI's shape on such a route is answered by the OpenAI front, streamed where
it asks to be: ``messages`` is a chat completion, ``prompt`` a completion, ``input`` an
embedding request. A body with ``inputs`` or ``instances`` keeps the prediction route's meaning.
"""

from __future__ import annotations

import json

__all__ = ["openai_path"]

_SHAPES = (
    ("messages", "/v1/chat/completions"),
    ("prompt", "/v1/completions"),
    ("input", "/v1/embeddings"),
)
_PREDICTION_KEYS = ("inputs", "instances")


def openai_path(body: bytes) -> str | None:
    """The OpenAI route a scoring route's ``body`` is for, or ``None`` (a prediction)."""
    # Most prediction bodies never name an OpenAI field: no JSON parse for them.
    if not any(f'"{key}"'.encode() in body for key, _ in _SHAPES):
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return None  # the prediction route answers the 400
    if type(decoded) is not dict or any(key in decoded for key in _PREDICTION_KEYS):
        return None
    return next((path for key, path in _SHAPES if key in decoded), None)
