"""Property tests: whatever goes in, the loader returns a valid ``Spec`` or raises ``SpecError``.

Four strategies, 2,300 examples in all, derandomised so CI sees the same ones:

- documents generated from the published JSON Schema (so from the real field set), each leaf
  usually valid and sometimes junk of another type;
- mutations of every example and every valid corpus case: keys dropped, values retyped, unknown
  keys inserted, values swapped between fields, units broken, lists doubled;
- the same specs as text, cut and spliced with YAML punctuation, tags, NULs and anchors;
- random text and bytes built from YAML punctuation.

For a valid spec ``resolve()`` must succeed; for an invalid one every diagnostic must use a known
code, a line inside the text and a short message. Whenever the text reads into data, jsonschema
must agree with svai on that data except for the pydantic-only codes (see ``test_schema.py``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_corpus import CASE_FILES, CODES, SEMANTIC_ONLY

from svai.errors import SpecError
from svai.spec import ResolvedSpec, Spec, json_schema, load_spec_text, resolve
from svai.spec.load import load_document

SCHEMA = json_schema()
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFS: dict[str, Any] = SCHEMA["$defs"]
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
REPO = Path(__file__).resolve().parents[2]
SEEDS = [
    p.read_text(encoding="utf-8")
    for p in [*sorted((REPO / "examples").glob("*/svai.yaml")), *CASE_FILES]
    if p.parent.name != "cases" or p.stem.startswith("valid-")
]
SEED_DOCUMENTS = [yaml.load(seed, Loader=LOADER) for seed in SEEDS]
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "database": None,
}

DURATIONS = ["250ms", "1s", "1.5s", "30s", "10m", "10min", "2h", "7d", "0ms"]
SIZES = ["256KB", "1MB", "512MiB", "2GB", "16Gi", "1 TB", "0B"]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["no", "yes", "1.10", "10 parsecs", "../up", "/abs", "sk-" + "a" * 30]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
REGIONS = ["us-east-1", "eu-west-1", "us-central1", "europe-west4", "eastus", "westeurope"]


def resolve_ref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {
            **DEFS[node["$ref"].rsplit("/", 1)[-1]],
            **{k: v for k, v in node.items() if k != "$ref"},
        }
    return node


def string_for(name: str, node: dict[str, Any]) -> st.SearchStrategy[Any]:
    pattern = node.get("pattern", "")
    examples = node.get("examples", [])
    if "ms|s|min" in pattern:
        return st.sampled_from(DURATIONS)
    if "KiB" in pattern:
        return st.sampled_from(SIZES)
    if name == "region":
        return st.sampled_from(REGIONS)
    if examples:
        return st.sampled_from(examples)
    if "anyOf" in node:
        return st.sampled_from(["model/model.onnx", "s3://bucket/m.onnx", "hf://org/name@abc"])
    if pattern and "(?" not in pattern:
        return st.from_regex(pattern.replace("$", r"\Z"), fullmatch=False)
    if pattern:
        return st.sampled_from(["model/model.onnx", "eval/set.jsonl", "src/pre.py:prepare"])
    return st.text(max_size=20)


def value_for(name: str, node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for a plausible value of schema ``node`` (sometimes junk)."""
    node = resolve_ref(node)
    options: list[st.SearchStrategy[Any]] = []
    if "anyOf" in node and "type" not in node:
        options = [value_for(name, sub, depth) for sub in node["anyOf"]]
    elif "const" in node:
        options = [st.just(node["const"])]
    elif "enum" in node:
        options = [st.sampled_from(node["enum"])]
    else:
        kind = node.get("type")
        if kind == "boolean":
            options = [st.booleans()]
        elif kind == "integer":
            low = node.get("minimum", node.get("exclusiveMinimum", -5))
            high = node.get("maximum", node.get("exclusiveMaximum", low + 100))
            options = [st.integers(int(low), int(min(high, low + 10**6)))]
        elif kind == "number":
            low = node.get("minimum", node.get("exclusiveMinimum", 0))
            high = node.get("maximum", node.get("exclusiveMaximum", 1000))
            options = [st.floats(float(low), float(high), allow_nan=False)]
        elif kind == "string":
            options = [string_for(name, node)]
        elif kind == "null":
            options = [st.none()]
        elif kind == "array" and depth < 6:
            item = value_for(name, node.get("items", {}), depth + 1)
            options = [st.lists(item, min_size=node.get("minItems", 0), max_size=4)]
        elif kind == "object" and depth < 6:
            options = [object_for(node, depth + 1)]
    if not options:
        return JUNK
    valid = st.one_of(*options)
    if depth == 0:
        return valid
    # Mostly valid leaves, so many documents are valid or fail in one place only.
    return st.one_of(*[valid] * 15, JUNK)


def object_for(node: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    node = resolve_ref(node)
    props: dict[str, Any] = node.get("properties", {})
    if not props and "patternProperties" in node:
        key_pattern, value_node = next(iter(node["patternProperties"].items()))
        keys = st.from_regex(key_pattern.replace("$", r"\Z")) | st.sampled_from(
            ["API_KEY", "bad-key"]
        )
        return st.dictionaries(keys, value_for("secret", value_node, depth), max_size=3)
    required = set(node.get("required", []))
    return st.fixed_dictionaries(
        {k: value_for(k, v, depth) for k, v in props.items() if k in required},
        optional={k: value_for(k, v, depth) for k, v in props.items() if k not in required},
    )


DOCUMENTS = object_for(SCHEMA, 0)


def check(text: str | bytes) -> Spec | SpecError:
    """The property: a Spec that resolves, or a SpecError of known, located codes.

    Whenever the text reads into data, jsonschema must agree with svai on that same data, except
    where svai reports only checks the schema cannot express.
    """
    try:
        result: Spec | SpecError = load_spec_text(text, "fuzz.yaml")
    except SpecError as error:
        lines = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).count("\n")
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.code in CODES, diagnostic.render()
            assert 0 <= diagnostic.line <= lines + 2, diagnostic.render()
            assert diagnostic.message
            assert len(diagnostic.render()) < 2000, "a message stays short whatever the input"
        result = error
    else:
        assert isinstance(resolve(result), ResolvedSpec)
    try:
        data = load_document(text)
    except SpecError:
        return result  # refused while reading: neither validator sees data
    schema_valid = VALIDATOR.is_valid(data)
    if isinstance(result, Spec):
        assert schema_valid, f"svai accepts what the schema refuses:\n{text!r}"
        return result
    codes = {d.code for d in result.diagnostics}
    if codes == {"cross-field"}:
        assert schema_valid, f"only cross-field problems, yet the schema refuses:\n{text!r}"
    elif not codes <= SEMANTIC_ONLY:
        assert not schema_valid, f"the schema accepts what svai refuses:\n{text!r}\n{result}"
    return result


@settings(max_examples=500, **SETTINGS)
@given(DOCUMENTS)
def test_generated_documents(document: dict[str, Any]) -> None:
    check(yaml.dump(document, Dumper=DUMPER, sort_keys=False, allow_unicode=True))


# ---- mutations of valid specs ------------------------------------------------------------------


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, (*prefix, index))
    return found


def parent_and_key(document: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    for part in path[:-1]:
        document = document[part]
    return document, path[-1]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    document = copy.deepcopy(draw(st.sampled_from(SEED_DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = paths_of(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = parent_and_key(document, path)
        action = draw(st.sampled_from(["drop", "retype", "unknown", "swap", "unit", "dup-list"]))
        if action == "drop":
            del parent[key]
        elif action == "retype":
            parent[key] = draw(JUNK)
        elif action == "unknown" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "latncy", "regoin", str(key) + "s"]))] = 1
        elif action == "swap":
            other_parent, other_key = parent_and_key(document, draw(st.sampled_from(paths)))
            parent[key], other_parent[other_key] = (
                copy.deepcopy(other_parent[other_key]),
                parent[key],
            )
        elif action == "unit" and isinstance(parent[key], str):
            parent[key] = draw(
                st.sampled_from(
                    [
                        re.sub(r"[A-Za-z]+$", "", parent[key]) or "0",
                        parent[key] + "x",
                        parent[key].upper(),
                        parent[key].replace("m", " parsecs"),
                    ]
                )
            )
        elif action == "dup-list" and isinstance(parent[key], list):
            parent[key] = parent[key] + parent[key]
    return yaml.dump(document, Dumper=DUMPER, sort_keys=False, allow_unicode=True)


@settings(max_examples=700, **SETTINGS)
@given(mutated())
def test_mutated_specs(text: str) -> None:
    check(text)


@st.composite
def spliced(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        insert = draw(
            st.sampled_from(
                [
                    "",
                    "\t",
                    ": ",
                    "- ",
                    "&a ",
                    "*a",
                    "!!python/name:os ",
                    "{",
                    "]",
                    "'",
                    "\n  ",
                    "<<: ",
                    "---\n",
                    "\0",
                    "? ",
                    "yes",
                    "1e999",
                ]
            )
        )
        text = text[:start] + insert + text[end:]
    return text


@settings(max_examples=600, **SETTINGS)
@given(spliced())
def test_spliced_text(text: str) -> None:
    check(text)


YAML_BITS = st.sampled_from(
    [
        "version: 1\n",
        "name: x\n",
        "a",
        ":",
        " ",
        "\n",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&x ",
        "*x",
        "!!str ",
        "!t ",
        "? ",
        "|\n",
        ">\n",
        "'",
        '"',
        "#",
        "---\n",
        "...\n",
        "%YAML 1.1\n",
        "\t",
        "~",
        "1.10",
        "no",
        "<<",
        "\\x",
        "\ufeff",
        "é",
    ]
)


@settings(max_examples=500, **SETTINGS)
@given(st.lists(YAML_BITS, max_size=40).map("".join) | st.binary(max_size=200))
def test_random_text(text: str | bytes) -> None:
    check(text)
