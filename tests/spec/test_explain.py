"""`svai.spec.explain`: the table from pydantic's error types to their explainers.

The wording of every diagnostic is pinned by the YAML cases in tests/spec/cases (exact expected
diagnostics); this checks the table itself, where a misspelt type would silently fall back to
pydantic's own message, and that fallback.
"""

from __future__ import annotations

import typing

from pydantic_core import ErrorDetails
from pydantic_core.core_schema import ErrorType

from svai.spec.explain import _EXPLAINERS, SourceMap, _diagnose


def test_every_key_of_the_table_is_a_pydantic_error_type() -> None:
    assert set(_EXPLAINERS) <= set(typing.get_args(ErrorType))


def test_a_type_without_an_explainer_keeps_pydantics_message_at_its_place() -> None:
    source = SourceMap("svai.yaml", values={(): (1, 1), ("model",): (3, 8)})
    detail: ErrorDetails = {
        "type": "uuid_parsing",
        "loc": ("model", "id"),
        "msg": "Value error, Input should be a valid UUID",
        "input": "x",
    }
    diagnostic = _diagnose(detail, source, {"model": {"id": "x"}})
    assert (diagnostic.code, diagnostic.message) == (
        "invalid-value",
        "Input should be a valid UUID",
    )
    assert (diagnostic.file, diagnostic.line, diagnostic.col, diagnostic.path) == (
        "svai.yaml", 3, 8, "model",
    )  # fmt: skip
