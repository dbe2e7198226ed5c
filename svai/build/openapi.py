"""The OpenAPI 3.1 document of one deployment: its request and response, from its task.

``svai build`` writes it into every target as ``openapi.json``; the HTTP server, the function
entry points and the async front door serve it at ``GET /openapi.json``, and the gateways route
that path. A sync deployment documents ``POST /predict`` (plus the OpenAI routes when an engine
serves a generation or embedding model in a container); an async one documents what its front
door answers, ``POST /jobs`` and ``GET /jobs/{id}``. The request body is the spec's ``api.input_schema`` when there is one
(it is what the runtime validates), else the task's: ``{"inputs": ...}`` or
``{"instances": [...]}`` (:mod:`svai.runtime.core.tasks`). The answer's items follow the task
-- labels with the model's own class names, scores, spans, embeddings -- unless a
post-processing hook reshapes them, in which case they are left open.
"""

from __future__ import annotations

from typing import Any

from svai.runtime.server.main import OPENAPI_FILE as OPENAPI_NAME
from svai.spec.resolve import ResolvedSpec

__all__ = ["OPENAPI_NAME", "openapi_document"]

_NUMBER_ROW = {"type": "array", "items": {"type": "number"}, "description": "one row of features"}
_TEXT = {"type": "string", "description": "one text"}
_IMAGE = {
    "oneOf": [
        {"type": "string", "contentEncoding": "base64", "description": "an image file, base64"},
        {
            "type": "object",
            "required": ["b64"],
            "properties": {"b64": {"type": "string", "contentEncoding": "base64"}},
            "additionalProperties": False,
        },
    ],
    "description": 'an image (PNG, JPEG, ...) as base64, or Vertex AI\'s {"b64": ...}',
}
_INPUT_ITEMS = {
    "classification": _NUMBER_ROW,
    "regression": _NUMBER_ROW,
    "text-classification": _TEXT,
    "token-classification": _TEXT,
    "sentence-embedding": _TEXT,
    "image-classification": _IMAGE,
    "text-generation": _TEXT,
    "feature-extraction": _TEXT,
}
_ERROR = {
    "type": "object",
    "required": ["error", "model_version", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "path": {"type": "string", "description": "JSON path of the offending field"},
            },
        },
        "model_version": {"type": "string"},
        "request_id": {"type": "string"},
    },
}
_STATUS = {
    "400": "not JSON (or NaN / Infinity)",
    "413": "body over api.max_payload",
    "415": "content type not accepted",
    "422": "input that does not fit the model or the input schema; error.path names the field",
    "429": "rate limit",
    "500": "the model failed and no fallback answered",
    "503": "not ready, draining or at capacity (Retry-After)",
    "504": "no answer within api.timeout",
}


def openapi_document(
    spec: ResolvedSpec,
    version: str,
    model: dict[str, Any],
    input_schema: dict[str, Any] | None,
    model_io: dict[str, Any] | None = None,
    *,
    mode: str = "sync",
    openai_task: str | None = None,
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of one built deployment.

    Args:
        spec: The resolved spec (name, description, hooks).
        version: The model version id.
        model: The runtime config's ``model`` section (``task``, ``labels``).
        input_schema: The spec's ``api.input_schema``, already read, if any.
        model_io: For ``raw`` models, the ONNX graph's inputs and outputs
            (``{"inputs": {name: rank}, "outputs": [name, ...]}``).
        mode: ``sync`` (``/predict``) or ``async`` (``/jobs``, ``/jobs/{id}``).
        openai_task: The engine's task when the HTTP server also answers the OpenAI routes
            (``text-generation``, ``feature-extraction``), else ``None``.

    Returns:
        The document, as plain JSON data.
    """
    task = str(model.get("task", "raw"))
    body = input_schema if input_schema is not None else _request(task, model_io)
    item = {} if spec.model.postprocess else _answer(task, list(model.get("labels", [])), model_io)
    ok = _envelope(item, bool(spec.model.postprocess), task == "raw")
    errors = {
        status: {
            "description": why,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, why in _STATUS.items()
    }
    predict = {
        "post": {
            "operationId": "predict",
            "summary": f"{task} prediction",
            "description": (
                "Also served at /v1/predict, /invocations (SageMaker) and /score (Azure ML). "
                'Send {"inputs": ...} and read "outputs", or send {"instances": [...]} and '
                'read "predictions"; either list has one item per input, in order.'
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Request"}}
                },
            },
            "responses": {
                "200": {
                    "description": "the model's answer, one item per input",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Response"}}
                    },
                },
                **errors,
            },
        }
    }
    probe = {
        "get": {
            "responses": {
                "200": {"description": "ready (the model is loaded)"},
                "503": {"description": "not ready yet, or draining"},
            }
        }
    }
    document_path = {"get": {"responses": {"200": {"description": "this document"}}}}
    schemas = {"Request": body, "Response": ok, "Item": item, "Error": _ERROR}
    paths: dict[str, Any]
    if mode == "async":
        paths = {**_jobs_paths(errors), "/openapi.json": document_path}
        schemas["Job"] = _JOB
    else:
        paths = {
            "/predict": predict,
            "/readyz": probe,
            "/healthz": {"get": {"responses": {"200": {"description": "the process is up"}}}},
            "/openapi.json": document_path,
            **_openai_paths(openai_task, errors),
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": spec.name,
            "version": version,
            "description": spec.description or f"{spec.name}: {task} model served by svai",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


_JOB = {
    "type": "object",
    "required": ["id", "status", "status_url"],
    "properties": {
        "id": {"type": "string", "description": "the job id (the idempotency key when sent)"},
        "status": {"enum": ["queued", "running", "done", "failed"]},
        "status_url": {"type": "string", "description": "where GET reads the job: /jobs/{id}"},
    },
}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _jobs_paths(errors: dict[str, Any]) -> dict[str, Any]:
    """``POST /jobs`` and ``GET /jobs/{id}``, as :class:`svai.runtime.entry.jobs.JobsFront`."""
    done = {
        "description": "done: the model's answer, one item per input",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "status", "outputs", "model_version"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"const": "done"},
                        "outputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Item"},
                        },
                        "model_version": {"type": "string"},
                    },
                }
            }
        },
    }
    submit_errors = {k: v for k, v in errors.items() if k in ("400", "413", "415", "422", "429")}
    return {
        "/jobs": {
            "post": {
                "operationId": "submit",
                "summary": "queue a job",
                "description": (
                    'The body is a prediction request ({"inputs": ...} or {"instances": '
                    "[...]}). Send the idempotency header to make retries safe: the same key "
                    "answers the same job."
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Request"}}
                    },
                },
                "responses": {
                    "202": _json("Job", "queued; Location names the job"),
                    "200": _json("Job", "this idempotency key's job is already done"),
                    **submit_errors,
                    "503": _json("Error", "the queue did not take the job (Retry-After)"),
                },
            }
        },
        "/jobs/{id}": {
            "get": {
                "operationId": "status",
                "summary": "a job's status, and its answer once done",
                "parameters": [
                    {"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": done,
                    "202": _json("Job", "still queued or running (Retry-After)"),
                    "404": _json("Error", "no such job"),
                },
            }
        },
    }


_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
}
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART}]},
        "name": {"type": "string"},
    },
}
_SAMPLING = {
    "model": {"type": "string", "description": "absent, or the id GET /v1/models lists"},
    "max_tokens": {"type": "integer", "minimum": 1},
    "max_completion_tokens": {"type": "integer", "minimum": 1},
    "user": {"type": "string"},
    "stream_options": {
        "type": "object",
        "properties": {"include_usage": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "seed": {"type": "integer"},
    "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "stream": {
        "type": "boolean",
        "description": "answer as server-sent events: data: {chunk} lines, data: [DONE] last",
    },
}


def _openai_paths(task: str | None, errors: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI routes ``svai/runtime/server/openai.py`` answers for an engine's task."""
    if task not in ("text-generation", "feature-extraction"):
        return {}

    def post(operation: str, required: list[str], fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "post": {
                "operationId": operation,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": required,
                                "properties": fields,
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the OpenAI-shaped answer (or its event stream)",
                        "content": {"application/json": {}, "text/event-stream": {}},
                    },
                    **errors,
                },
            }
        }

    models = {
        "/v1/models": {
            "get": {"responses": {"200": {"description": "the one model this deployment serves"}}}
        }
    }
    if task == "feature-extraction":
        embed = {"input": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT}]}}
        return {"/v1/embeddings": post("embeddings", ["input"], embed), **models}
    chat = {"messages": {"type": "array", "items": _MESSAGE, "minItems": 1}, **_SAMPLING}
    completion = {"prompt": _TEXT, **_SAMPLING}
    return {
        "/v1/chat/completions": post("chat_completions", ["messages"], chat),
        "/v1/completions": post("completions", ["prompt"], completion),
        **models,
    }


def _request(task: str, model_io: dict[str, Any] | None) -> dict[str, Any]:
    item = _INPUT_ITEMS.get(task) or _raw_input(model_io)
    one_or_many = {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["inputs"],
                "properties": {"inputs": one_or_many},
            },
            {
                "type": "object",
                "required": ["instances"],
                "properties": {"instances": {"type": "array", "items": item, "minItems": 1}},
            },
        ]
    }


def _raw_input(model_io: dict[str, Any] | None) -> dict[str, Any]:
    inputs: dict[str, int] = (model_io or {}).get("inputs", {})
    if len(inputs) <= 1:
        return {"type": "array", "description": "the model input's values for one row"}
    return {
        "type": "object",
        "description": "the model's inputs by name",
        "required": sorted(inputs),
        "properties": {name: {"type": "array"} for name in sorted(inputs)},
    }


def _answer(task: str, labels: list[Any], model_io: dict[str, Any] | None) -> dict[str, Any]:
    score = {"type": "number", "minimum": 0, "maximum": 1}
    if task in ("classification", "text-classification", "image-classification"):
        label: dict[str, Any] = {"enum": labels} if labels else {}
        return {
            "type": "object",
            "required": ["label", "score", "scores"],
            "properties": {
                "label": {**label, "description": "the most likely class"},
                "score": {**score, "description": "its probability"},
                "scores": {
                    "type": "object",
                    "description": "every class's probability, by class name",
                    "properties": {str(name): score for name in labels},
                },
            },
        }
    if task == "regression":
        return {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": {
                    "oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]
                }
            },
        }
    if task == "text-generation":
        return {
            "type": "object",
            "required": ["generated_text"],
            "properties": {"generated_text": {"type": "string", "description": "greedy reply"}},
        }
    if task in ("sentence-embedding", "feature-extraction"):
        return {
            "type": "object",
            "required": ["embedding"],
            "properties": {
                "embedding": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "L2-normalised where the model normalises (as "
                    "sentence-transformers does)",
                }
            },
        }
    if task == "token-classification":
        span = {
            "type": "object",
            "required": ["label", "score", "start", "end", "text"],
            "properties": {
                "label": {"enum": sorted({_entity(str(name)) for name in labels} - {"O"})},
                "score": score,
                "start": {"type": "integer", "description": "character offset, inclusive"},
                "end": {"type": "integer", "description": "character offset, exclusive"},
                "text": {"type": "string"},
            },
        }
        return {
            "type": "object",
            "required": ["spans"],
            "properties": {"spans": {"type": "array", "items": span}},
        }
    outputs = (model_io or {}).get("outputs", [])
    return {
        "type": "object",
        "description": "the model's outputs by name, each with one row per input row",
        "properties": {name: {"type": "array"} for name in outputs},
    }


def _entity(label: str) -> str:
    return label[2:] if label.startswith(("B-", "I-")) else label


def _envelope(item: dict[str, Any], hooked: bool, raw: bool) -> dict[str, Any]:
    items = {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
    outputs: dict[str, Any] = items
    predictions: dict[str, Any] = items
    if hooked:
        outputs = predictions = {"description": "what the post-processing hook returns"}
    elif raw:
        # A raw model answers "outputs" column-wise ({name: rows}); "predictions" row-wise.
        outputs = {"$ref": "#/components/schemas/Item"}
        predictions = {
            "type": "array",
            "items": {"type": "object", "description": "one input row's outputs, by name"},
        }
    common = {
        "model_version": {"type": "string"},
        "request_id": {"type": "string"},
        "fallback": {"type": "boolean", "description": "answered by the fallback"},
        "cached": {"type": "boolean"},
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["outputs", "model_version", "request_id"],
                "properties": {"outputs": outputs, **common},
            },
            {
                "type": "object",
                "required": ["predictions", "model_version", "request_id"],
                "properties": {"predictions": predictions, **common},
            },
        ]
    }
