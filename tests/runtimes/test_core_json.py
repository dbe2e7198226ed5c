"""Request JSON: orjson where installed, the standard library otherwise, the same answers."""

from __future__ import annotations

import json

import pytest

from svai.runtime.core import messages
from svai.runtime.core.errors import MalformedPayloadError
from svai.runtime.core.messages import canonical_json, loads_strict, parse_json

BODIES = [
    b'{"inputs": [[1.5, -2, 3e-7, 1e16]], "b": {"z": 1, "a": [true, null]}}',
    '{"text": "caf\\u00e9 \u2603", "k": "\\ud83d\\ude00"}'.encode(),
    b'{"big": 123456789012345678901234567890}',  # beyond 64 bits: the fallback parses it
    b"[]",
]
BAD = [b"", b"{", b'{"a": NaN}', b"[Infinity]", b'{"a": -Infinity}', b"\xff\xfe", b"[1,]"]


@pytest.fixture(params=["orjson", "stdlib"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "stdlib":
        monkeypatch.setattr(messages, "_orjson", None)
    else:
        assert messages.use_orjson(), "orjson is a runtime dependency: install it"
        assert messages._orjson is not None
    return str(request.param)


@pytest.mark.parametrize("body", BODIES)
def test_both_codecs_parse_to_the_same_values(codec: str, body: bytes) -> None:
    assert parse_json(body) == json.loads(body)


@pytest.mark.parametrize("body", BAD)
def test_both_codecs_refuse_what_is_not_strict_json(codec: str, body: bytes) -> None:
    with pytest.raises(MalformedPayloadError) as caught:
        parse_json(body)
    assert caught.value.status == 400 and "body is not valid JSON" in str(caught.value)


def test_canonical_bytes_ignore_key_order_and_round_trip(codec: str) -> None:
    a = {"b": [1, 2.5, {"y": 1, "x": "é"}], "a": None, "big": 2**70}
    b = {"big": 2**70, "a": None, "b": [1, 2.5, {"x": "é", "y": 1}]}
    assert canonical_json(a) == canonical_json(b)
    assert json.loads(canonical_json(a)) == a
    assert b" " not in canonical_json({"k": [1, 2]})


# Numbers no double holds: the standard library reads them as infinity, orjson refuses them.
# A body with a run of 19 digits always goes to the standard library (orjson would round it).
OVERFLOWING = [
    b'{"inputs": [[1e400]]}',
    b'{"x": -1E999}',
    b'{"id": 12345678901234567890, "inputs": [[1e400]]}',
    b'{"id": 12345678901234567890, "x": [-1e309]}',
]


@pytest.mark.parametrize("body", OVERFLOWING)
def test_numbers_that_overflow_a_double_are_refused_by_both_codecs(codec: str, body: bytes) -> None:
    with pytest.raises(MalformedPayloadError, match=r"out of range|infinity"):
        parse_json(body)


@pytest.mark.parametrize("body", [*OVERFLOWING, b'{"a": NaN}', b"[Infinity]"])
def test_the_strict_loader_of_queued_jobs_refuses_them_too(body: bytes) -> None:
    with pytest.raises(ValueError):
        loads_strict(body)
    assert loads_strict(b'{"x": 1e308, "n": 123456789012345678901234567890}') == {
        "x": 1e308,
        "n": 123456789012345678901234567890,
    }
