"""Every corpus case yields exactly its expected diagnostics (and valid cases resolve)."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_corpus import CASE_FILES, CASES, ROOT, load_case, relative, render

from svai.errors import SpecError
from svai.spec import resolve
from tests.goldens import check_golden


@pytest.mark.parametrize("case", CASE_FILES, ids=[c.stem for c in CASE_FILES])
def test_case_matches_expected(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = load_case(case)
    actual = render(result)
    check_golden(case.with_suffix(".expected"), actual)
    if isinstance(result, SpecError):
        assert not case.stem.startswith("valid-"), "a valid-* case must stay valid"
        for diagnostic in result.diagnostics:
            assert diagnostic.file == relative(case)
            assert diagnostic.line >= 1 and diagnostic.col >= 1, diagnostic.render()
            assert diagnostic.severity == "error"
    else:
        resolved = resolve(result)
        assert resolved.name == result.name


def test_corpus_is_complete() -> None:
    """No orphan .expected files, and both valid and invalid cases exist."""
    stems = {c.stem for c in CASE_FILES}
    orphans = sorted(p.name for p in CASES.glob("*.expected") if p.stem not in stems)
    assert orphans == []
    assert sum(s.startswith("valid-") for s in stems) >= 5
    assert len(stems) >= 60
