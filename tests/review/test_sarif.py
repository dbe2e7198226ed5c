"""`svai check --format sarif`: valid SARIF 2.1.0, results pointing at the svai.yaml lines to fix.

``sarif-2.1.0.json`` beside this file is the official OASIS SARIF 2.1.0 JSON schema
(``sarif-2.1.0-rtm.5``, JSON Schema draft-04), as shipped inside Microsoft's MIT-licensed npm
package ``@microsoft/jest-sarif`` 1.0.0-beta.0 (``lib/schemas/sarif-2.1.0-rtm.5.json``); it is
bundled because tests never reach the network.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from svai.cli.main import cli
from svai.compiler.sarif import locate
from tests.review.helpers import EXAMPLES, write_project
from tests.review.test_readiness import GOOD_SYNC

SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)

BROKEN = (
    GOOD_SYNC.replace("auth: iam", "auth: none")
    .replace("  max_concurrency: 50\n", "")
    .replace("drift: {enabled: true, sample_rate: 0.01}", "drift: {enabled: false}")
)


def sarif(path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["check", str(path), "--format", "sarif", "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_schema_is_the_official_one() -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    assert "sarif-2.1.0" in SCHEMA["id"]


def test_sarif_is_valid_and_points_at_lines(tmp_path: Path) -> None:
    path = write_project(tmp_path, BROKEN)
    log = sarif(path)
    assert list(VALIDATOR.iter_errors(log)) == []
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert results
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] in ("error", "warning", "note")
    by_rule = {r["ruleId"]: r for r in results}
    auth = by_rule["SVAI_READY_012"]
    assert auth["level"] == "error"
    region = auth["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == line_of(BROKEN, "auth: none")
    drift = by_rule["SVAI_READY_008"]["locations"][0]["physicalLocation"]["region"]
    assert drift["startLine"] == line_of(BROKEN, "drift:")
    # max_concurrency is not written: the result points at its parent, where it goes.
    guard = by_rule["SVAI_READY_003"]["locations"][0]["physicalLocation"]["region"]
    assert guard["startLine"] == line_of(BROKEN, "reliability:")


def test_example_sarif_is_valid() -> None:
    log = sarif(EXAMPLES / "minilm-embeddings" / "svai.yaml")
    assert list(VALIDATOR.iter_errors(log)) == []
    ids = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {f"SVAI_READY_{i:03d}" for i in range(1, 17)} <= ids


def test_validator_rejects_broken_sarif(tmp_path: Path) -> None:
    # The schema check can fail: a level SARIF does not define, and a result without a message.
    log = sarif(write_project(tmp_path, BROKEN))
    bad_level = copy.deepcopy(log)
    bad_level["runs"][0]["results"][0]["level"] = "fatal"
    assert list(VALIDATOR.iter_errors(bad_level))
    no_message = copy.deepcopy(log)
    del no_message["runs"][0]["results"][0]["message"]
    assert list(VALIDATOR.iter_errors(no_message))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("reliability.backoff.jitter", (5, 5)),  # written: the key itself
        ("reliability.dlq", (2, 1)),  # not written: its parent
        ("targets.1.region", (9, 5)),  # through a sequence
        ("nothing.here", None),
    ],
)
def test_locate(path: str, expected: tuple[int, int] | None) -> None:
    text = (
        "version: 1\n"
        "reliability:\n"
        "  retries: 2\n"
        "  backoff:\n"
        "    jitter: none\n"
        "targets:\n"
        "  - cloud: aws\n"
        "  - cloud: gcp\n"
        "    region: us-central1\n"
    )
    assert locate(text, path) == expected
