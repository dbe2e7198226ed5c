"""``hf://ORG/NAME@COMMIT[/PATH]``: huggingface_hub, pinned to a commit.

The hub's own client speaks its routes (``/api/models/…/tree``, ``/…/resolve/…`` with ETag,
X-Repo-Commit and Range); ``HF_ENDPOINT`` points it elsewhere (the tests' loopback hub). A file
is downloaded into a scratch folder (the client resumes its own partial downloads there) and
handed to :mod:`svai.build.fetch`, which keeps svai's content-addressed copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from svai.build.sources import Obj, Progress, require
from svai.errors import ToolMissingError, UsageError
from svai.spec.source import Source

__all__ = ["HubStore", "open_store"]


def open_store(source: Source) -> HubStore:
    """A hub client for one repository (``HF_TOKEN`` for private and gated ones).

    Raises:
        ToolMissingError: huggingface_hub is missing.
    """
    require("huggingface_hub", "huggingface_hub", "hf")
    from huggingface_hub import HfApi

    # Read at call time: huggingface_hub reads HF_ENDPOINT once, when it is first imported.
    endpoint = os.environ.get("HF_ENDPOINT") or None
    token = os.environ.get("HF_TOKEN") or None
    return HubStore(source, HfApi(endpoint=endpoint, token=token), endpoint, token)


class HubStore:
    """One pinned hub repository, folder or file."""

    def __init__(self, source: Source, api: Any, endpoint: str | None, token: str | None) -> None:
        """Wrap ``api`` (an ``HfApi``) for ``source``."""
        self.source = source
        self.api = api
        self.endpoint = endpoint
        self.token = token

    def objects(self) -> list[Obj]:
        """The file (its size from the resolve route) or every file of the repository folder.

        Raises:
            UsageError: the repository, revision or file does not exist.
            ToolMissingError: the repository is private or gated and ``HF_TOKEN`` is unset.
        """
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.hf_api import RepoFile

        repo, revision, path = self.source.container, self.source.version, self.source.path
        try:
            if not self.source.folder:
                url = hf_hub_url(repo, path, revision=revision, endpoint=self.endpoint)
                meta = get_hf_file_metadata(url, token=self.token)
                return [Obj("", path, int(meta.size or 0))]
            prefix = path.rstrip("/")
            entries = self.api.list_repo_tree(
                repo, path_in_repo=prefix or None, revision=revision, recursive=True
            )
            start = len(prefix) + 1 if prefix else 0
            found = [
                Obj(e.path[start:], e.path, int(e.size)) for e in entries if isinstance(e, RepoFile)
            ]
        except Exception as exc:
            raise self._refused(exc) from None
        if not found:
            raise UsageError(f"model.artifact: {self.source.uri}: no files in this repository")
        return sorted(found, key=lambda o: o.relative)

    def download(self, obj: Obj, target: Path, progress: Progress) -> None:
        """Download one file through the hub client (which resumes its own partial files).

        Raises:
            UsageError: the file does not exist at the pinned revision.
            ToolMissingError: the repository is private or gated and ``HF_TOKEN`` is unset.
        """
        from huggingface_hub import hf_hub_download

        scratch = Path(tempfile.mkdtemp(prefix=".hf-", dir=target.parent))
        try:
            path = hf_hub_download(
                self.source.container,
                obj.key,
                revision=self.source.version,
                local_dir=scratch,
                endpoint=self.endpoint,
                token=self.token,
            )
            os.replace(path, target)
        except Exception as exc:
            raise self._refused(exc) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        progress(obj.size)

    def _refused(self, exc: Exception) -> Exception:
        from huggingface_hub import errors

        uri = self.source.uri
        if isinstance(exc, errors.GatedRepoError) or (
            isinstance(exc, errors.RepositoryNotFoundError) and self.token is None
        ):
            return ToolMissingError(
                f"model.artifact: {uri}: the hub refused an anonymous read (a private or gated "
                "repository, or none by that name); set HF_TOKEN to a token that may read it"
            )
        if isinstance(exc, errors.RepositoryNotFoundError | errors.RevisionNotFoundError):
            return UsageError(f"model.artifact: {uri}: no such repository or revision")
        if isinstance(exc, errors.EntryNotFoundError):
            return UsageError(f"model.artifact: {uri}: no such file at this revision")
        if isinstance(exc, errors.HfHubHTTPError | OSError):
            return UsageError(f"model.artifact: {uri}: the hub refused the read ({exc})")
        return exc
