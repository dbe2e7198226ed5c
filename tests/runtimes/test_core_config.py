"""Runtime config loading and the JSON Schema subset validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from svai.runtime.core.config import load_config, parse_config
from svai.runtime.core.errors import ConfigError, InvalidInputError
from svai.runtime.core.schema import compile_schema

MINIMAL = {"model": {"path": "model.onnx", "version": "v1"}}


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    path = tmp_path / "svai_runtime.json"
    path.write_text(json.dumps(MINIMAL))
    cfg = load_config(tmp_path)  # a directory means "the svai_runtime.json inside"
    assert cfg.model.framework == "onnx"
    assert cfg.api.content_types == ("application/json",)
    assert cfg.cache.ttl_s == 0
    assert cfg.workers >= 1
    assert cfg.queue_size == 2 * cfg.workers
    assert cfg.resolve("model.onnx") == Path(tmp_path.resolve(), "model.onnx")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({**MINIMAL, "extra": 1}, "unknown key(s) in runtime config: extra"),
        ({"model": {**MINIMAL["model"], "pth": "x"}}, "model: unknown key(s) pth"),
        ({"model": {"path": "m.onnx"}}, "model.version: required"),
        ({"model": {"path": "m.onnx", "version": "v 1\r\nx: y"}}, "model.version: must be"),
        ({**MINIMAL, "api": {"timeout_s": "10"}}, "api.timeout_s: expected float"),
        ({**MINIMAL, "api": {"max_payload_bytes": True}}, "api.max_payload_bytes: expected int"),
        ({**MINIMAL, "api": {"timeout_s": 0}}, "api.timeout_s: must be > 0"),
        ({**MINIMAL, "cache": {"store": "memcached-x"}}, "cache.store"),
        ({**MINIMAL, "hooks": {"preprocess": "nocolon"}}, "hooks.preprocess"),
        ({"model": {**MINIMAL["model"], "framework": "tf"}}, "model.framework"),
        ({"model": {**MINIMAL["model"], "framework": "onnx-text-encoder"}}, "model.tokenizer"),
        ({**MINIMAL, "schema_version": 2}, "schema_version"),
        ([], "must be a JSON object"),
        ({**MINIMAL, "batching": []}, "batching: expected an object"),
    ],
)
def test_bad_configs_name_the_key(data: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert fragment in str(err.value)


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)


DIGITS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "inputs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "array",
                "minItems": 2,
                "maxItems": 2,
                "items": {"type": "number", "minimum": 0, "maximum": 16},
            },
        },
        "mode": {"enum": ["fast", "exact"]},
        "name": {"type": "string", "minLength": 1, "maxLength": 4},
        "count": {"type": "integer", "exclusiveMinimum": 0},
        "tags": {"type": "array", "items": {"type": "number"}},
    },
    "required": ["inputs"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ([], "$"),
        ({}, "$.inputs"),
        ({"inputs": []}, "$.inputs"),
        ({"inputs": [[1, 2], [3, 4], [5, 6], [7, 8]]}, "$.inputs"),
        ({"inputs": [[1, 2], [3]]}, "$.inputs[1]"),
        ({"inputs": [[1, 2], [3, "4"]]}, "$.inputs[1][1]"),
        ({"inputs": [[1, 2], [3, 17]]}, "$.inputs[1][1]"),
        ({"inputs": [[1, True]]}, "$.inputs[0][1]"),
        ({"inputs": [[1, 2]], "other": 1}, "$.other"),
        ({"inputs": [[1, 2]], "mode": "slow"}, "$.mode"),
        ({"inputs": [[1, 2]], "name": ""}, "$.name"),
        ({"inputs": [[1, 2]], "name": "toolong"}, "$.name"),
        ({"inputs": [[1, 2]], "count": 0}, "$.count"),
        ({"inputs": [[1, 2]], "count": 1.5}, "$.count"),
        ({"inputs": [[1, 2]], "tags": [1, None]}, "$.tags[1]"),
    ],
)
def test_schema_violations_report_the_field_path(payload: Any, path: str) -> None:
    validate = compile_schema(DIGITS_SCHEMA)
    with pytest.raises(InvalidInputError) as err:
        validate(payload)
    assert err.value.path == path
    assert err.value.status == 422


def test_schema_accepts_valid_payloads() -> None:
    validate = compile_schema(DIGITS_SCHEMA)
    validate({"inputs": [[0, 16.0]], "mode": "exact", "name": "abcd", "count": 2.0, "tags": []})
    validate({"inputs": [[1.5, 2], [3, 4], [5, 6]]})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "oneOf": [{"type": "object"}]},
        {"$ref": "#/definitions/x"},
        {"type": "string", "pattern": "^a"},
        {"properties": {"a": {"format": "email"}}},
        {"type": "tuple"},
        {"items": [{"type": "number"}]},
        {"minItems": -1},
        {"enum": []},
    ],
)
def test_unsupported_or_malformed_schemas_are_rejected_at_load(schema: Any) -> None:
    with pytest.raises(ConfigError):
        compile_schema(schema)


def test_enum_and_const_compare_with_json_types() -> None:
    validate = compile_schema({"enum": [1, "a", None]})
    validate(1.0)
    validate(None)
    with pytest.raises(InvalidInputError):
        validate(True)
    with pytest.raises(InvalidInputError):
        compile_schema({"const": False})(0)


def test_schema_errors_in_config_fail_at_service_creation(tmp_path: Path) -> None:
    from svai.runtime.core import Service

    cfg = parse_config({**MINIMAL, "api": {"input_schema": {"anyOf": []}}}, base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="anyOf"):
        Service.from_config(cfg)


def test_an_unknown_cache_store_fails_at_service_creation(tmp_path: Path) -> None:
    from svai.runtime.core import Service
    from svai.runtime.entry.stores import STORES

    cfg = parse_config({**MINIMAL, "cache": {"store": "memcached://x"}}, base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"cache\.store 'memcached://x': unknown store"):
        Service.from_config(cfg, stores=STORES)
    cloud = parse_config({**MINIMAL, "cache": {"store": "dynamodb://t"}}, base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="unknown store"):
        Service.from_config(cloud)  # the core alone knows only local stores
    assert Service.from_config(cloud, stores=STORES).cfg.cache.store == "dynamodb://t"
