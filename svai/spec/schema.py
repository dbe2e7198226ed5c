"""The JSON Schema of ``svai.yaml``, generated from the pydantic model (never hand-written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from svai.spec.model import Spec

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "json_schema", "render_schema"]

SCHEMA_PATH = Path(__file__).with_name("svai.schema.json")
"""The committed copy; a test fails when it drifts from the model."""
SCHEMA_ID = "https://svai.dev/schema/v1/svai.schema.json"


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the spec."""
    schema = Spec.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def render_schema() -> str:
    """Return the schema as stable, pretty JSON text (what is committed)."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
