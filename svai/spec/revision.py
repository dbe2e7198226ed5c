"""Specs at git revisions, read from git objects only (``svai diff BASE HEAD``).

A pull request must not be able to forge what its review shows, so nothing here reads the work
tree once a revision is named:

- a name is a revision only when ``git rev-parse`` says so; a name that is *also* a path in the
  work tree is ambiguous and the caller refuses it, as git does (:meth:`Repository.is_revision`
  and ``svai diff``'s ``--``);
- a spec's folder at a revision is written out from the tree and blob objects
  (:meth:`Repository.extract`), not with ``git archive``, whose ``.gitattributes``
  (``export-ignore``, ``export-subst``) are part of the revision under review and could hide or
  rewrite files; a spec that is itself a symbolic link at a revision is refused;
- which specs a change touches comes from the two trees (:meth:`Repository.touched_specs`).

The files written out keep their symbolic links as committed; the path policy of
:mod:`svai.spec.paths` then refuses any that a spec names and that leaves its folder, exactly as
for a work tree.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from svai.errors import ToolMissingError, UsageError

__all__ = ["SPEC_NAME", "Repository"]

SPEC_NAME = "svai.yaml"
"""The file name a spec has in a repository; specs are found by it."""

_REGULAR = {"100644": 0o644, "100755": 0o755}
_LINK = "120000"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class _Entry:
    """One file of a tree: its mode, blob id and path (POSIX, relative to the repository)."""

    mode: str
    blob: str
    path: str


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "--literal-pathspecs", *args], cwd=cwd, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise ToolMissingError("comparing git revisions needs git on PATH") from None


@dataclass(frozen=True, slots=True)
class Repository:
    """A git work tree's repository, known by its top folder."""

    top: Path

    @classmethod
    def find(cls, start: Path) -> Repository | None:
        """Return the repository holding ``start`` (or its closest existing parent), if any.

        Without git installed there is no repository either (two files still compare).
        """
        folder = next(p for p in (start, *start.parents) if p.is_dir())
        try:
            found = _git(["rev-parse", "--show-toplevel"], folder)
        except ToolMissingError:
            return None
        if found.returncode != 0 or not found.stdout.strip():
            return None
        return cls(Path(os.fsdecode(found.stdout.strip())).resolve())

    def _run(self, *args: str) -> bytes:
        done = _git(list(args), self.top)
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            raise UsageError(f"git {args[0]} failed in {self.top}: {detail}")
        return done.stdout

    def commit(self, name: str) -> str | None:
        """Return the commit id ``name`` denotes, or ``None`` when it is not a revision."""
        if not name or name.startswith("-"):
            return None  # never let a name become an option of git
        done = _git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"],
            self.top,
        )
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def is_revision(self, name: str) -> bool:
        """Whether ``name`` denotes a commit of this repository."""
        return self.commit(name) is not None

    def relative(self, file: str | Path) -> str:
        """Return ``file`` (a work-tree path, relative to the current folder) as a repository path.

        The path is taken as written: symbolic links inside the repository are not followed,
        since the work tree is not what a revision holds (only folders above the repository,
        such as a linked ``/tmp``, are resolved to find where it starts).

        Raises:
            UsageError: ``file`` is not inside this repository.
        """
        lexical = Path(os.path.normpath(Path(file).absolute()))
        for parent in lexical.parents:
            if parent.resolve() == self.top:
                return lexical.relative_to(parent).as_posix()
        raise UsageError(f"{file} is outside the git repository at {self.top}")

    def _tree(self, commit: str, folder: str = "") -> list[_Entry]:
        """Every file under ``folder`` at ``commit`` (submodules are skipped)."""
        args = ["ls-tree", "-r", "-z", "--full-tree", commit]
        out = self._run(*args, "--", folder) if folder else self._run(*args)
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, blob = meta.decode().split()
            if kind == "blob":
                entries.append(_Entry(mode, blob, os.fsdecode(path)))
        return entries

    def specs(self, commit: str) -> list[str]:
        """Repository paths of every ``svai.yaml`` at ``commit``."""
        return sorted(e.path for e in self._tree(commit) if PurePosixPath(e.path).name == SPEC_NAME)

    def touched_specs(self, base: str, head: str) -> tuple[list[str], list[str]]:
        """Return (every spec at either commit, the specs whose project the change touches).

        A changed file belongs to the project of the closest ``svai.yaml`` above it, so a
        nested project's change is not counted against the one around it.
        """
        every = sorted(set(self.specs(base)) | set(self.specs(head)))
        folders = {str(PurePosixPath(s).parent): s for s in every}
        changed = self._run(
            "diff", "--no-ext-diff", "--no-textconv", "--no-renames", "--name-only", "-z",
            base, head, "--",
        )  # fmt: skip
        touched = set()
        for raw in changed.split(b"\0"):
            if not raw:
                continue
            path = PurePosixPath(os.fsdecode(raw))
            owner = next((str(p) for p in path.parents if str(p) in folders), None)
            if owner is not None:
                touched.add(folders[owner])
        return every, sorted(touched)

    def spec_entry(self, commit: str, path: str, rev: str) -> bool:
        """Whether the spec ``path`` exists at ``commit`` (named ``rev`` in messages).

        Raises:
            UsageError: it is there but is not a regular file (a symbolic link, a submodule).
        """
        listed = self._run("ls-tree", "-z", "--full-tree", commit, "--", path)
        for record in listed.split(b"\0"):
            meta, _, name = record.partition(b"\t")
            if os.fsdecode(name) != path:
                continue
            mode, kind, blob = meta.decode().split()
            if mode == _LINK:
                target = self._run("cat-file", "blob", blob).decode(errors="replace")
                raise UsageError(
                    f"{rev}:{path} is a symbolic link (to `{target}`); a spec is compared as "
                    "committed, so commit svai.yaml itself, not a link to it"
                )
            if kind != "blob" or mode not in _REGULAR:
                raise UsageError(f"{rev}:{path} is not a file ({kind}, mode {mode})")
            return True
        return False

    def extract(self, commit: str, folder: str, dest: Path) -> None:
        """Write the files under ``folder`` at ``commit`` into ``dest``, from git objects only.

        Paths land relative to ``folder``. Symbolic links are written as committed (the path
        policy judges them when a spec names them); anything that would land outside ``dest``
        is refused.

        Raises:
            UsageError: a tree path that climbs out (a corrupt or hostile tree object).
        """
        folder = "" if folder in ("", ".") else folder
        entries = [e for e in self._tree(commit, folder) if e.mode in _REGULAR or e.mode == _LINK]
        targets = []
        for entry in entries:
            inner = PurePosixPath(entry.path)
            inner = inner.relative_to(folder) if folder else inner
            if inner.is_absolute() or {"..", ".", ".git", ""} & set(inner.parts):
                raise UsageError(f"{commit}:{entry.path}: refusing a tree path that climbs out")
            targets.append(dest.joinpath(*inner.parts))
        dest.mkdir(parents=True, exist_ok=True)
        with _BlobStream(self.top, [e.blob for e in entries]) as stream:
            for entry, target in zip(entries, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                if entry.mode == _LINK:
                    os.symlink(os.fsdecode(_read_blob(stream, entry.blob, None)), target)
                    continue
                with target.open("wb") as handle:
                    _read_blob(stream, entry.blob, handle)
                target.chmod(_REGULAR[entry.mode])


class _BlobStream:
    """``git cat-file --batch`` over a list of blob ids, read in order as a context manager."""

    def __init__(self, top: Path, blobs: list[str]) -> None:
        self._top = top
        self._request = "".join(f"{b}\n" for b in blobs).encode()

    def __enter__(self) -> IO[bytes]:
        try:
            self._process = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self._top,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise ToolMissingError("comparing git revisions needs git on PATH") from None
        assert self._process.stdin is not None and self._process.stdout is not None
        # Written from a thread: git answers while it reads, and both pipes have small buffers.
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()
        return self._process.stdout

    def _write(self) -> None:
        assert self._process.stdin is not None
        # A broken pipe means git stopped early (the reader gave up); the reader reports why.
        with contextlib.suppress(BrokenPipeError):
            try:
                self._process.stdin.write(self._request)
            finally:
                self._process.stdin.close()

    def __exit__(self, *exc: object) -> None:
        assert self._process.stdout is not None
        self._process.stdout.close()
        self._process.wait()
        self._writer.join()


def _read_blob(stream: IO[bytes], blob: str, into: IO[bytes] | None) -> bytes:
    """Read the next ``cat-file --batch`` answer (``blob``) into ``into``, or return its bytes."""
    header = stream.readline().decode().split()
    if len(header) != 3 or header[0] != blob or header[1] != "blob":
        raise UsageError(f"git cat-file: unexpected answer {' '.join(header)!r} for {blob}")
    left = int(header[2])
    kept = bytearray()
    while left:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            raise UsageError(f"git cat-file: {blob} ended early")
        left -= len(chunk)
        if into is None:
            kept += chunk
        else:
            into.write(chunk)
    stream.read(1)  # the newline after each object
    return bytes(kept)
