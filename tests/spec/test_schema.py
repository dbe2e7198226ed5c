"""The committed JSON Schema: no drift, fully described, and in agreement with svai.

Agreement is checked on exactly the data svai validates (``load_document``), for every example
and every corpus case:

- svai accepts  ->  jsonschema accepts;
- svai refuses with any code outside ``PYDANTIC_ONLY``  ->  jsonschema refuses;
- svai refuses with ``cross-field`` alone  ->  jsonschema accepts: the schema cannot express them;
- svai refuses with ``secret-value`` (and perhaps ``cross-field``)  ->  either: the heuristic is
  reported in place of the reference's name pattern, which the schema does check;
- a ``READING_ONLY`` refusal (duplicate keys, unsafe tags, bombs, syntax...) happens before there
  is data to give either validator.

``docs/spec.md`` documents the same split; a test below keeps it honest.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel
from spec_corpus import CASE_FILES, CODES, PYDANTIC_ONLY, READING_ONLY, SEMANTIC_ONLY

from svai.errors import SpecError
from svai.spec import Spec, json_schema, load_spec_text, render_schema
from svai.spec import model as spec_model
from svai.spec.load import load_document
from svai.spec.schema import SCHEMA_PATH

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*/svai.yaml"))
INPUTS = [*EXAMPLES, *CASE_FILES]
IDS = [f"example:{p.parent.name}" for p in EXAMPLES] + [f"case:{p.stem}" for p in CASE_FILES]
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def test_committed_schema_has_not_drifted() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == render_schema(), (
        "svai/spec/svai.schema.json is stale: run `svai schema > svai/spec/svai.schema.json`"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def properties_of(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"#/{name}", node) for name, node in schema.get("properties", {}).items()]
    for model, definition in schema.get("$defs", {}).items():
        found += [(f"{model}.{n}", node) for n, node in definition.get("properties", {}).items()]
    return found


def test_every_field_and_section_has_a_description() -> None:
    schema = json_schema()
    fields = properties_of(schema)
    assert len(fields) > 120
    missing = [name for name, node in fields if not node.get("description", "").strip()]
    assert missing == []
    undescribed = [n for n, d in schema["$defs"].items() if not d.get("description", "").strip()]
    assert undescribed == []
    assert schema["description"].strip()


def test_every_pydantic_field_is_described() -> None:
    # Every section module of the spec package, found by walking it: a new module is covered too.
    modules = [
        importlib.import_module(f"{spec_model.__name__}.{info.name}")
        for info in pkgutil.iter_modules(spec_model.__path__)
    ]
    models = [
        obj
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == module.__name__
    ]
    assert Spec in models and len(models) > 20
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name, info in m.model_fields.items()
        if not (info.description or "").strip()
    ]
    assert missing == []


def outcome(path: Path) -> tuple[Spec | SpecError, Any]:
    """Load ``path`` with svai, and read it into data when reading succeeds (else ``None``)."""
    text = path.read_bytes()
    try:
        result: Spec | SpecError = load_spec_text(text, path.name)
    except SpecError as error:
        result = error
    try:
        data = load_document(text, path.name)
    except SpecError:
        data = None
    return result, data


@pytest.mark.parametrize("path", INPUTS, ids=IDS)
def test_jsonschema_agrees_with_svai(path: Path) -> None:
    result, data = outcome(path)
    if data is None:
        assert isinstance(result, SpecError)
        assert {d.code for d in result.diagnostics} <= READING_ONLY
        return
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if isinstance(result, Spec):
        assert errors == [], [e.message for e in errors]
        return
    codes = {d.code for d in result.diagnostics}
    if codes == {"cross-field"}:
        assert errors == [], f"cross-field checks are invisible to the schema: {errors[0].message}"
    elif not codes <= SEMANTIC_ONLY:
        assert errors, f"jsonschema accepts what svai refuses with {sorted(codes - PYDANTIC_ONLY)}"


def test_agreement_covers_every_kind_of_outcome() -> None:
    """The corpus exercises all four branches above, so the agreement test cannot pass vacuously."""
    kinds: dict[str, set[str]] = {"valid": set(), "semantic": set(), "schema": set(), "read": set()}
    for path in INPUTS:
        result, data = outcome(path)
        if data is None:
            kinds["read"].add(path.stem)
        elif isinstance(result, Spec):
            kinds["valid"].add(path.stem)
        elif {d.code for d in result.diagnostics} <= SEMANTIC_ONLY:
            kinds["semantic"].add(path.stem)
        else:
            kinds["schema"].add(path.stem)
    assert {k: len(v) >= 5 for k, v in kinds.items()} == dict.fromkeys(kinds, True), kinds
    assert {"cross-latency-order", "secret-values", "cross-gpu-faas"} <= kinds["semantic"]
    assert {"duplicate-keys", "unsafe-tag", "alias-bomb", "merge-key"} <= kinds["read"]


def test_docs_list_every_code_and_the_pydantic_only_split() -> None:
    doc = (REPO / "docs" / "spec.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `([a-z-]+)`", doc, flags=re.MULTILINE))
    assert headings == set(CODES)
    section = doc.split("## Checks only svai makes", 1)[1].split("\n## ", 1)[0]
    for code in SEMANTIC_ONLY | READING_ONLY:
        assert f"`{code}`" in section, code
    assert set(PYDANTIC_ONLY) <= set(CODES)


def test_corpus_uses_every_code_the_text_can_produce() -> None:
    seen: set[str] = set()
    for path in CASE_FILES:
        result, _ = outcome(path)
        if isinstance(result, SpecError):
            seen |= {d.code for d in result.diagnostics}
    unseen = CODES - seen
    # These need bytes or a file system, not YAML text: tests/spec/test_hostile.py covers them.
    assert unseen == {
        "file-not-found",
        "file-unreadable",
        "file-too-large",
        "encoding",
        "invalid-character",
        "too-deep",
        "path-escapes",  # a symbolic link on disk: tests/test_path_policy.py
        "model-unservable",  # a model file or folder on disk: tests/runtimes/test_formats_*.py
        "unknown-feature",  # the request schema file on disk: tests/drift/test_spec.py
    }


def test_docs_describe_every_field() -> None:
    doc = (REPO / "docs" / "spec.md").read_text(encoding="utf-8")
    missing = sorted(
        {name.split(".")[-1].removeprefix("#/") for name, _ in properties_of(json_schema())}
        - set(re.findall(r"^\| `([a-z0-9_]+)` \|", doc, flags=re.MULTILINE))
    )
    assert missing == [], "regenerate the section tables in docs/spec.md"
