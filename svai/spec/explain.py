"""pydantic's validation errors as located diagnostics: one explainer per error type.

:mod:`svai.spec.load` composes the document and records where every key and value sits (a
:class:`SourceMap`); when pydantic refuses the document, :func:`from_pydantic` turns each of its
errors into a :class:`~svai.diagnostics.Diagnostic` at that place, through ``_EXPLAINERS``, the
one table from pydantic's error type to the function that words it: the code, the message in
the user's terms (the value as written), and a hint ("did you mean `latency`?").
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from svai.diagnostics import Diagnostic
from svai.spec.clouds import CLOUDS, SPEC_FIELDS
from svai.spec.model import FieldError, SecretValueError, Spec
from svai.spec.units import UnitError, quote

__all__ = ["KeyPath", "SourceMap", "dotted", "from_pydantic"]

KeyPath = tuple[str | int, ...]
"""Where a value sits in the document: mapping keys and list indexes from the top."""


@dataclass
class SourceMap:
    """Where things are in the file: value and key positions by path, and the scalar texts."""

    file: str
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    texts: dict[KeyPath, str] = field(default_factory=dict)
    reported: set[KeyPath] = field(default_factory=set)
    """Paths the reader already reported (pydantic's follow-up errors on them are dropped)."""

    def position(self, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
        """Return the (line, col) of ``path``, or of its closest known ancestor."""
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            table = self.keys if key and cut == len(path) else self.values
            if prefix in table:
                return table[prefix]
        return (1, 1)

    def known_prefix(self, path: KeyPath) -> KeyPath:
        """Return the longest prefix of ``path`` that exists in the document."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.values:
                return path[:cut]
        return ()


def from_pydantic(
    error: ValidationError, source: SourceMap, document: dict[str, Any]
) -> list[Diagnostic]:
    """Return one diagnostic per distinct problem in ``error``, in the order of the file.

    Errors on paths the reader already reported are dropped, and so are repeats (a union
    reports the same place once per member).
    """
    seen: set[tuple[Any, ...]] = set()
    out: list[Diagnostic] = []
    for detail in error.errors(include_url=False):
        if tuple(detail["loc"]) in source.reported:
            continue
        diagnostic = _diagnose(detail, source, document)
        key = (diagnostic.line, diagnostic.col, diagnostic.path, diagnostic.message)
        if key not in seen:
            seen.add(key)
            out.append(diagnostic)
    return sorted(out, key=lambda d: (d.line, d.col, d.path))


@dataclass(frozen=True, slots=True)
class _Error:
    """One pydantic error with what every explainer reads.

    Attributes:
        detail: pydantic's error as reported.
        kind: Its type (``missing``, ``literal_error``, ...).
        loc: Its location, without pydantic's trailing ``[key]`` for an error in a key.
        path: The longest prefix of ``loc`` written in the document (where it is reported).
        dotted: The dotted path shown (``loc`` for a field that is absent or unknown).
        value: The value pydantic saw.
        text: The value as written in the file, for a scalar.
        source: Positions in the file.
        document: The plain data validated.
    """

    detail: ErrorDetails
    kind: str
    loc: KeyPath
    path: KeyPath
    dotted: str
    value: Any
    text: str | None
    source: SourceMap
    document: dict[str, Any]

    @property
    def message(self) -> str:
        """Pydantic's own message, without its ``Value error,`` prefix."""
        return self.detail["msg"].removeprefix("Value error, ")

    @property
    def ctx(self) -> dict[str, Any]:
        """The error's context (bounds, lengths, the expected literals, the cause)."""
        return dict(self.detail.get("ctx", {}))

    def at(
        self,
        code: str,
        message: str,
        hint: str = "",
        *,
        at: KeyPath | None = None,
        key: bool = False,
    ) -> Diagnostic:
        """A diagnostic at the error's value, or at ``at`` (at its key with ``key``)."""
        line, col = self.source.position(self.path if at is None else at, key=key)
        return Diagnostic(code, message, self.source.file, line, col, self.dotted, hint)


def _diagnose(detail: ErrorDetails, source: SourceMap, document: dict[str, Any]) -> Diagnostic:
    """Explain one error: an error in a key first, then by its type (``_EXPLAINERS``)."""
    kind = detail["type"]
    loc = tuple(detail["loc"])
    in_key = bool(loc) and loc[-1] == "[key]"
    if in_key:
        loc = loc[:-1]
    path = source.known_prefix(loc)
    error = _Error(
        detail=detail,
        kind=kind,
        loc=loc,
        path=path,
        dotted=dotted(loc if kind in ("extra_forbidden", "missing") else path),
        value=detail.get("input"),
        text=source.texts.get(path),
        source=source,
        document=document,
    )
    if in_key:
        return _bad_key(error)
    return _EXPLAINERS.get(kind, _invalid_value)(error)


def _bad_key(error: _Error) -> Diagnostic:
    """The key itself is wrong (e.g. a secret name): point at the key, show it as written."""
    path = error.path
    shown = quote(str(path[-1])) if path else "this key"
    if error.kind == "string_pattern_mismatch":
        message = f"the key {shown} does not have the expected form"
        return error.at("invalid-value", message, _pattern_hint(error.loc[:-1]), key=True)
    message = f"the key {shown}: {_lower(error.detail['msg'])}"
    return error.at("invalid-value", message, key=True)


def _unknown_field(error: _Error) -> Diagnostic:
    name = str(error.loc[-1])
    allowed = _fields_at(error.loc[:-1])
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    hint = (
        f"did you mean `{close[0]}`?"
        if close
        else (f"allowed here: {', '.join(allowed)}" if allowed else "")
    )
    return error.at("unknown-field", f"unknown field {quote(name)}", hint, at=error.loc, key=True)


def _missing_field(error: _Error) -> Diagnostic:
    loc = error.loc
    message = f"missing required field `{loc[-1]}`"
    return error.at("missing-field", message, _missing_hint(loc), at=loc[:-1], key=True)


def _not_allowed(error: _Error) -> Diagnostic:
    """A value outside a fixed set (``literal_error``)."""
    value, expected = error.value, error.ctx.get("expected", "")
    if isinstance(value, dict | list):
        listed = str(expected).replace("'", "")
        return error.at(
            "wrong-type", f"expected one of {listed}, got {_describe(value, error.text)}"
        )
    options = [
        o.strip().strip("'") for o in str(expected).replace(" or ", ",").split(",") if o.strip()
    ]
    close = (
        difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
        if isinstance(value, str)
        else []
    )
    hint = f"did you mean `{close[0]}`?" if close else f"allowed: {', '.join(options)}"
    if error.loc == ("version",):
        hint = "write `version: 1`" + (
            " (YAML reads 1.10 as the number 1.1)"
            if isinstance(value, float)
            else (" without quotes" if isinstance(value, str) else "")
        )
    return error.at("invalid-value", f"{_show(value, error.text)} is not allowed here", hint)


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _wrong_type(error: _Error) -> Diagnostic:
    kind, value, text = error.kind, error.value, error.text
    if kind == "int_type" and isinstance(value, float):
        return error.at("wrong-type", f"expected a whole number, got {_show(value, text)}")
    hint = ""
    if isinstance(value, bool) and text is not None and text.lower() not in ("true", "false"):
        hint = f'YAML reads `{text}` as {str(value).lower()}; quote it: "{text}"'
    elif isinstance(value, bool) and kind == "string_type":
        hint = "write the value as text, without true/false/yes/no/on/off"
    elif isinstance(value, str) and kind == "bool_type":
        hint = "write `true` or `false` without quotes"
    elif isinstance(value, int | float) and kind == "string_type":
        hint = f'quote it: "{text if text is not None else value}"'
    expected = _TYPE_NAMES[kind]
    return error.at("wrong-type", f"expected {expected}, got {_describe(value, text)}", hint)


def _value_error(error: _Error) -> Diagnostic:
    """A validator of the model refused the value; its exception says which kind of problem."""
    message, cause = error.message, error.ctx.get("error")
    if isinstance(cause, SecretValueError):
        hint = "e.g. " + ", ".join(
            f"`{cloud}: {fields.secret_example}`"
            for cloud, fields in SPEC_FIELDS.items()
            if fields.secret is not None
        )
        return error.at("secret-value", message, hint)
    if error.loc == ("version",):
        return error.at("wrong-type", message, "write `version: 1`")
    if isinstance(cause, UnitError) or "bare number" in message:
        return error.at("bad-unit", message)
    if isinstance(_at(error.document, error.path), dict):
        # A section-level check: point at the field it blames when that field is written.
        if isinstance(cause, FieldError):
            blamed = error.source.known_prefix((*error.path, *cause.field))
            if len(blamed) > len(error.path):
                error = dataclasses.replace(error, path=blamed, dotted=dotted(blamed))
        return error.at("cross-field", message)
    return error.at("invalid-value", message)


def _pattern_mismatch(error: _Error) -> Diagnostic:
    message = f"{_show(error.value, error.text)} does not have the expected form"
    return error.at("invalid-value", message, _pattern_hint(error.loc))


_BOUNDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}


def _out_of_range(error: _Error) -> Diagnostic:
    ctx = error.ctx
    bound = next((ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx), "")
    bound = f"{bound:g}" if isinstance(bound, float) else bound
    shown = _show(error.value, error.text)
    return error.at(
        "out-of-range", f"{shown} is out of range: it must be {_BOUNDS[error.kind]} {bound}"
    )


def _wrong_length(error: _Error) -> Diagnostic:
    """Too few or too many items (``too_short``, ``too_long``)."""
    ctx, kind = error.ctx, error.kind
    actual = ctx.get("actual_length", "?")
    if kind == "too_short":
        wanted = f"at least {ctx.get('min_length', '?')}"
    else:
        wanted = f"at most {ctx.get('max_length', '?')}"
    count = ctx.get("min_length" if kind == "too_short" else "max_length")
    noun = "entr" if isinstance(error.value, dict) else "item"
    noun += ("y" if noun == "entr" else "") if count == 1 else ("ies" if noun == "entr" else "s")
    return error.at("invalid-length", f"expected {wanted} {noun}, got {actual}")


def _not_finite(error: _Error) -> Diagnostic:
    return error.at("out-of-range", "expected a finite number")


def _invalid_value(error: _Error) -> Diagnostic:
    """Any other error: pydantic's own message."""
    return error.at("invalid-value", error.message)


_EXPLAINERS: dict[str, Callable[[_Error], Diagnostic]] = {
    "extra_forbidden": _unknown_field,
    "missing": _missing_field,
    "literal_error": _not_allowed,
    **dict.fromkeys(_TYPE_NAMES, _wrong_type),
    "value_error": _value_error,
    "string_pattern_mismatch": _pattern_mismatch,
    **dict.fromkeys(_BOUNDS, _out_of_range),
    "too_short": _wrong_length,
    "too_long": _wrong_length,
    "finite_number": _not_finite,
}
"""pydantic's error type -> the function that explains it; any other type: ``_invalid_value``."""


def _lower(message: str) -> str:
    return message[:1].lower() + message[1:]


def _at(document: Any, path: KeyPath) -> Any:
    for part in path:
        document = document[part]
    return document


def _show(value: Any, text: str | None) -> str:
    if text is not None:
        return quote(text)
    return quote(repr(value)) if not isinstance(value, dict | list) else "this value"


def _describe(value: Any, text: str | None) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing (null)",
    }.get(type(value), type(value).__name__)
    if isinstance(value, dict | list) or value is None:
        return kind
    if isinstance(value, int) and not isinstance(value, bool) and text and "." in text:
        kind = "a number"  # an integral float such as 3.0, which the loader keeps as an int
    shown = quote(text if text is not None else repr(value))
    return f"{kind} ({shown.strip('`')})"


_FIRST = CLOUDS[0]
_FIRST_REGION = SPEC_FIELDS[_FIRST].region_example


def _cloud_hints() -> dict[str, str]:
    """A refused account field's hint, and a refused secret reference's (keyed by its cloud)."""
    hints: dict[str, str] = {}
    for cloud, fields in SPEC_FIELDS.items():
        if fields.account_field is not None and fields.account is not None:
            hints[fields.account_field] = fields.account.hint
        if fields.secret is not None:
            hints[cloud] = fields.secret.hint
    return hints


_CLOUD_HINTS = _cloud_hints()


def _missing_hint(loc: KeyPath) -> str:
    examples: dict[KeyPath, str] = {
        ("version",): "add `version: 1` at the top",
        ("traffic",): "e.g. `traffic: {pattern: steady, baseline_rps: 5}`",
        ("targets",): f"e.g. `targets: [{{cloud: {_FIRST}, region: {_FIRST_REGION}}}]`",
    }
    return examples.get(loc, "")


def _pattern_hint(loc: KeyPath) -> str:
    names = [p for p in loc if isinstance(p, str)]
    if len(names) >= 2 and names[-2] == "encryption_key":
        key = SPEC_FIELDS[names[-1]].key
        return key.hint if key else ""
    last = names[-1] if names else ""
    hints = {
        **_CLOUD_HINTS,
        "name": "lowercase letters, digits and dashes, 2-40 characters, starting with a letter",
        "sha256": "64 lowercase hex digits",
        "secrets": "an environment variable name: uppercase letters, digits and `_`",
        "alert_email": "an email address",
        "header": "an HTTP header name: letters, digits and dashes",
        "offering": "a catalog offering id: lowercase letters, digits and `_.-`",
        "issuer": "an https:// URL",
        "revision": "a commit or tag: letters, digits and `_.-`",
        "key": "`tenant`, `model_version`, `payload` or `header:NAME`",
        "content_types": "a media type such as application/json",
    }
    return hints.get(last, "see `svai schema` for the expected form")


def _model_for(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_for(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict):
        for arg in typing.get_args(annotation):
            found = _model_for(arg)
            if found is not None:
                return found
    return None


def _fields_at(loc: KeyPath) -> list[str]:
    model: type[BaseModel] | None = Spec
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            # a dict key (e.g. a secret name): stay on the dict's value model
            continue
        model = _model_for(info.annotation)
    return list(model.model_fields) if model is not None else []


def dotted(path: KeyPath) -> str:
    """Return ``path`` as the user reads it: ``targets[0].region``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if len(part) <= 60 else f"{part[:60]}..."  # a hostile key stays one line
        name = name if name.isprintable() else repr(name)
        out += f".{name}" if out else name
    return out
