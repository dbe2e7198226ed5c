"""What the two sides of ``svai diff BASE HEAD`` name: files, or a spec at two git revisions.

A side is a file when one of that name exists and a git revision when git knows it; a name that
is both is refused as ambiguous, as git refuses it (``--`` after the sides takes both as
revisions without looking at the work tree). When a side is a revision, the spec compared is the
one named, or, when both sides are revisions and none is named, the one spec whose project the
change touches. Reading the spec at a revision is :mod:`svai.spec.revision`'s; planning it is
:func:`svai.api.diff`'s.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from svai.errors import ToolMissingError, UsageError
from svai.spec.revision import SPEC_NAME, Repository

__all__ = ["Sides", "find_sides"]


@dataclass(frozen=True, slots=True)
class Sides:
    """The two sides of a comparison, as :func:`find_sides` resolved them.

    Attributes:
        repo: The repository around the spec (or the current folder), if any.
        commits: Per side (base, head), the commit it names, or ``None`` for a file.
        path: The spec's repository path when a side is a revision, else ``None``.
        found: ``path`` when no spec was named and the change picked it.
        present: Per commit a side names, whether the spec exists there.
    """

    repo: Repository | None
    commits: tuple[str | None, str | None]
    path: str | None = None
    found: str | None = None
    present: dict[str, bool] = field(default_factory=dict)


def find_sides(
    base: str, head: str, *, spec: str | Path | None = None, revisions: bool = False
) -> Sides:
    """Resolve ``base`` and ``head`` to files or commits, and the spec compared at revisions.

    Args:
        base: The first side, as written on the command line.
        head: The second side.
        spec: The spec to compare at revisions (a work-tree path), if named.
        revisions: Both sides are revisions (``--`` on the command line).

    Raises:
        ToolMissingError: a side is not a file, and git is not installed.
        UsageError: an ambiguous or unknown side, no spec to compare, a spec at neither
            revision.
    """
    repo = Repository.find(Path(spec).absolute().parent if spec else Path.cwd())
    base_commit, head_commit = (
        _side_commit(ref, repo, revisions, (base, head)) for ref in (base, head)
    )
    commits = [base_commit, head_commit]
    if repo is None or not any(commits):
        return Sides(repo, (base_commit, head_commit))
    found = None
    if spec is not None:
        path = repo.relative(spec)
    elif all(commits):
        path = found = _changed_spec(repo, base, head, commits)
    else:
        path = repo.relative(SPEC_NAME)
    named = zip(commits, (base, head), strict=True)
    present = {c: repo.spec_entry(c, path, r) for c, r in named if c}
    if not any(present.values()) and all(commits):
        raise UsageError(f"{path} exists at neither {base} nor {head}: nothing to compare")
    return Sides(repo, (base_commit, head_commit), path, found, present)


def _side_commit(
    ref: str, repo: Repository | None, revisions: bool, both: tuple[str, str]
) -> str | None:
    """The commit a diff side names, or ``None`` when it names a file."""
    if repo is None and (revisions or not os.path.lexists(ref)) and shutil.which("git") is None:
        raise ToolMissingError(f"{ref!r} is not a file, and comparing git revisions needs git")
    commit = repo.commit(ref) if repo is not None else None
    where = f" of the git repository at {repo.top}" if repo else " (not in a git repository)"
    if revisions:
        if commit is None:
            raise UsageError(f"{ref!r} is not a git revision{where}")
        return commit
    if os.path.lexists(ref):
        if commit is not None:
            link = f" (a symbolic link to {os.readlink(ref)})" if os.path.islink(ref) else ""
            raise UsageError(
                f"{ref!r} is ambiguous: both a git revision and a file in the work tree{link}. "
                f"To compare the revisions as committed, put `--` after them: "
                f"`svai diff {both[0]} {both[1]} -- [SPEC]`; to compare the file, write ./{ref}"
            )
        if not Path(ref).is_file():
            raise UsageError(f"{ref}: not a file")
        return None
    if commit is None:
        raise UsageError(f"{ref!r} is neither a file nor a git revision{where}")
    return commit


def _changed_spec(repo: Repository, base: str, head: str, commits: list[str | None]) -> str:
    """The one spec whose project changed between two commits, or a refusal that lists them."""
    every, touched = repo.touched_specs(*(c for c in commits if c))
    if len(touched) == 1:
        return touched[0]
    if not touched and len(every) == 1:
        return every[0]  # an unchanged project still gets a real comparison, not a guess

    def named(paths: list[str]) -> str:
        return ", ".join(os.path.relpath(repo.top / p) for p in paths)

    usage = f"svai diff {base} {head} -f"
    if not every:
        raise UsageError(
            f"no {SPEC_NAME} at {base} nor at {head} in {repo.top}; name the spec: {usage} PATH"
        )
    if touched:
        raise UsageError(
            f"{len(touched)} specs changed between {base} and {head} ({named(touched)}); "
            f"compare one at a time: {usage} {named(touched[:1])}"
        )
    raise UsageError(
        f"none of the {len(every)} specs changed between {base} and {head} ({named(every)}); "
        f"to compare one anyway: {usage} {named(every[:1])}"
    )
