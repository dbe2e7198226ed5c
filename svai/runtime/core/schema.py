"""A small, fast validator for the subset of JSON Schema that request payloads need.

``jsonschema`` costs tens of milliseconds to import, which a cold start cannot afford, so the
runtime compiles the input schema once at load time into nested closures. Supported keywords:

- ``type`` (a name or a list of names: object, array, string, number, integer, boolean, null);
  ``integer`` accepts integral floats such as ``1.0`` and booleans are never numbers;
- objects: ``properties``, ``required``, ``additionalProperties`` (boolean or schema);
- arrays: ``items`` (one schema), ``minItems``, ``maxItems``;
- numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum`` (numbers);
- strings: ``minLength``, ``maxLength``; any type: ``enum``, ``const``;
- annotations that do not constrain: ``$schema``, ``$id``, ``$comment``, ``title``,
  ``description``, ``default``, ``examples``.

Any other keyword (``$ref``, ``oneOf``, ``pattern``, ``format``, ...) is rejected when the schema
is compiled, so a schema never silently checks less than its author meant. Errors name the field
as a JSON path, e.g. ``$.inputs[3][12]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from svai.runtime.core.errors import ConfigError, InvalidInputError

__all__ = ["SUPPORTED_KEYWORDS", "Validator", "compile_schema"]

Validator = Callable[[Any], None]
_Check = Callable[[Any, str], None]

SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "enum",
        "const",
    }
)
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples"}
)
_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


def compile_schema(schema: dict[str, Any]) -> Validator:
    """Compile ``schema`` into a validator function.

    Args:
        schema: a JSON Schema using only the supported subset.

    Returns:
        A function that returns ``None`` for a valid value and raises ``InvalidInputError``
        (with ``path`` set) for the first violation found.

    Raises:
        ConfigError: the schema uses an unsupported keyword or is malformed.
    """
    check = _compile(schema, "#")

    def validate(value: Any) -> None:
        check(value, "$")

    return validate


def _is_type(value: Any, name: str) -> bool:
    t = type(value)
    if name == "number":
        return t is int or t is float
    if name == "integer":
        return t is int or (t is float and value.is_integer())
    if name == "string":
        return t is str
    if name == "object":
        return t is dict
    if name == "array":
        return t is list
    if name == "boolean":
        return t is bool
    return value is None


def _type_label(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    if value is None:
        return "null"
    return names.get(type(value), "number")


def _compile(schema: Any, where: str) -> _Check:
    if schema is True or schema == {}:
        return _accept
    if not isinstance(schema, dict):
        raise ConfigError(f"input schema {where}: expected an object or true")
    unsupported = sorted(set(schema) - SUPPORTED_KEYWORDS - _ANNOTATIONS)
    if unsupported:
        raise ConfigError(
            f"input schema {where}: unsupported keyword(s) {', '.join(unsupported)}; "
            f"supported: {', '.join(sorted(SUPPORTED_KEYWORDS))}"
        )
    checks: list[_Check] = []
    types = schema.get("type")
    if types is not None:
        names = (types,) if isinstance(types, str) else tuple(types)
        if not names or any(n not in _TYPES for n in names):
            raise ConfigError(f"input schema {where}/type: unknown type {types!r}")
        checks.append(_type_check(names))
    checks += _object_checks(schema, where)
    checks += _array_checks(schema, where)
    checks += _scalar_checks(schema, where)
    if len(checks) == 1:
        return checks[0]

    def check_all(value: Any, path: str) -> None:
        for c in checks:
            c(value, path)

    return check_all


def _accept(value: Any, path: str) -> None:
    return None


def _type_check(names: tuple[str, ...]) -> _Check:
    expected = " or ".join(names)

    def check(value: Any, path: str) -> None:
        for n in names:
            if _is_type(value, n):
                return
        raise InvalidInputError(f"{path}: expected {expected}, got {_type_label(value)}", path=path)

    return check


def _object_checks(schema: dict[str, Any], where: str) -> list[_Check]:
    checks: list[_Check] = []
    required = schema.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ConfigError(f"input schema {where}/required: expected a list of strings")
        names = tuple(required)

        def check_required(value: Any, path: str) -> None:
            if type(value) is dict:
                for name in names:
                    if name not in value:
                        raise InvalidInputError(
                            f"{path}.{name}: required field is missing", path=f"{path}.{name}"
                        )

        checks.append(check_required)
    props_schema = schema.get("properties", {})
    if not isinstance(props_schema, dict):
        raise ConfigError(f"input schema {where}/properties: expected an object")
    props = {k: _compile(v, f"{where}/properties/{k}") for k, v in props_schema.items()}
    extra = schema.get("additionalProperties", True)
    extra_check: _Check | None
    if extra is False:
        extra_check = None
    elif extra is True:
        extra_check = _accept
    else:
        extra_check = _compile(extra, f"{where}/additionalProperties")
    if props or extra_check is not _accept:

        def check_properties(value: Any, path: str) -> None:
            if type(value) is not dict:
                return
            for key, item in value.items():
                sub = props.get(key, extra_check)
                child = f"{path}.{key}"
                if sub is None:
                    raise InvalidInputError(f"{child}: unexpected field", path=child)
                sub(item, child)

        checks.append(check_properties)
    return checks


def _array_checks(schema: dict[str, Any], where: str) -> list[_Check]:
    checks: list[_Check] = []
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    for key, bound in (("minItems", lo), ("maxItems", hi)):
        if bound is not None and (type(bound) is not int or bound < 0):
            raise ConfigError(f"input schema {where}/{key}: expected a non-negative integer")
    if lo is not None or hi is not None:

        def check_len(value: Any, path: str) -> None:
            if type(value) is list:
                n = len(value)
                if lo is not None and n < lo:
                    raise InvalidInputError(f"{path}: expected at least {lo} items", path=path)
                if hi is not None and n > hi:
                    raise InvalidInputError(f"{path}: expected at most {hi} items", path=path)

        checks.append(check_len)
    if "items" in schema:
        items_schema = schema["items"]
        if isinstance(items_schema, list):
            raise ConfigError(f"input schema {where}/items: tuple form is not supported")
        item_check = _compile(items_schema, f"{where}/items")
        fast = _plain_number_schema(items_schema)

        def check_items(value: Any, path: str) -> None:
            if type(value) is not list:
                return
            # Rows of plain numbers are the common case; test them in one pass and only walk
            # item by item to name the culprit when something is wrong.
            if fast and all(type(v) is float or type(v) is int for v in value):
                return
            for i, item in enumerate(value):
                item_check(item, f"{path}[{i}]")

        checks.append(check_items)
    return checks


def _plain_number_schema(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and set(schema) - _ANNOTATIONS == {"type"}
        and (schema["type"] == "number")
    )


def _scalar_checks(schema: dict[str, Any], where: str) -> list[_Check]:
    checks: list[_Check] = []
    bounds = {
        k: schema[k]
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        if k in schema
    }
    for key, bound in bounds.items():
        if type(bound) not in (int, float):
            raise ConfigError(f"input schema {where}/{key}: expected a number")
    if bounds:
        lo, hi = bounds.get("minimum"), bounds.get("maximum")
        xlo, xhi = bounds.get("exclusiveMinimum"), bounds.get("exclusiveMaximum")

        def check_bounds(value: Any, path: str) -> None:
            if type(value) is not int and type(value) is not float:
                return
            if (
                (lo is not None and value < lo)
                or (hi is not None and value > hi)
                or (xlo is not None and value <= xlo)
                or (xhi is not None and value >= xhi)
            ):
                raise InvalidInputError(f"{path}: {value} is out of range {bounds}", path=path)

        checks.append(check_bounds)
    min_len, max_len = schema.get("minLength"), schema.get("maxLength")
    for len_key, bound in (("minLength", min_len), ("maxLength", max_len)):
        if bound is not None and (type(bound) is not int or bound < 0):
            raise ConfigError(f"input schema {where}/{len_key}: expected a non-negative integer")
    if min_len is not None or max_len is not None:

        def check_length(value: Any, path: str) -> None:
            if type(value) is str:
                n = len(value)
                if (min_len is not None and n < min_len) or (max_len is not None and n > max_len):
                    raise InvalidInputError(
                        f"{path}: length {n} outside [{min_len}, {max_len}]", path=path
                    )

        checks.append(check_length)
    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not options:
            raise ConfigError(f"input schema {where}/enum: expected a non-empty list")
        checks.append(_enum_check(options))
    if "const" in schema:
        checks.append(_enum_check([schema["const"]]))
    return checks


def _enum_check(options: list[Any]) -> _Check:
    # Compare with types so that true != 1 and 1 == 1.0, as JSON Schema says.
    keyed = [(_type_label(o) if _type_label(o) != "integer" else "number", o) for o in options]

    def check(value: Any, path: str) -> None:
        label = _type_label(value)
        label = "number" if label == "integer" else label
        for t, o in keyed:
            if t == label and o == value:
                return
        raise InvalidInputError(f"{path}: {value!r} is not one of {options!r}", path=path)

    return check
