"""`svai.spec.sides`: what the two sides of `svai diff` name, on a throwaway repository (real git).

The end-to-end cases (forged sides, specs at revisions, planning) are in
tests/review/test_revisions.py; these check the library's answer without planning anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from svai.errors import UsageError
from svai.spec.sides import find_sides
from tests.review.helpers import git


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two projects; the second commit changes only `b`'s."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "svai.yaml").write_text(f"name: {name}\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "one")
    (tmp_path / "b" / "notes.txt").write_text("changed\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "two")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_two_revisions_find_the_one_spec_whose_project_changed(repo: Path) -> None:
    sides = find_sides("HEAD~1", "HEAD")
    assert sides.found == sides.path == "b/svai.yaml"
    assert all(sides.commits) and sides.commits[0] != sides.commits[1]
    assert sides.present == dict.fromkeys(sides.commits, True)


def test_a_named_spec_is_compared_even_when_it_did_not_change(repo: Path) -> None:
    sides = find_sides("HEAD~1", "HEAD", spec="a/svai.yaml", revisions=True)
    assert sides.path == "a/svai.yaml" and sides.found is None


def test_files_are_files_and_need_no_spec(repo: Path) -> None:
    sides = find_sides("a/svai.yaml", "b/svai.yaml")
    assert sides.commits == (None, None) and sides.path is None and sides.present == {}


def test_a_name_that_is_neither_is_refused(repo: Path) -> None:
    with pytest.raises(UsageError, match="neither a file nor a git revision"):
        find_sides("nope", "HEAD")
