"""The golden-file check: a missing golden fails, and only the refresh flag writes one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.goldens import FLAG, check_golden


def test_a_missing_golden_fails_and_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FLAG, raising=False)
    golden = tmp_path / "plan.json"
    with pytest.raises(pytest.fail.Exception, match="is missing"):
        check_golden(golden, "{}\n")
    assert not golden.exists()


def test_a_different_output_fails_and_the_golden_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FLAG, raising=False)
    golden = tmp_path / "plan.json"
    golden.write_text("old\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="differs"):
        check_golden(golden, "new\n")
    assert golden.read_text(encoding="utf-8") == "old\n"
    check_golden(golden, "old\n")


def test_the_flag_writes_the_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FLAG, "1")
    golden = tmp_path / "plan.json"
    check_golden(golden, "new\n")
    assert golden.read_text(encoding="utf-8") == "new\n"
