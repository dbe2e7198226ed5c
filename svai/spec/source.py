"""Where a model comes from: the grammar of ``model.artifact`` and what pins it.

One home for every fact about an artifact location, read by the spec's validators, the version id,
the readiness rules, the build-time fetch and the recommender. The forms::

    ./model/model.onnx                                       a file or folder in the project
    s3://BUCKET/KEY[?versionId=ID]                           an S3 object (KEY ending in / : a prefix)
    gs://BUCKET/OBJECT[#GENERATION]                          a Cloud Storage object (or a prefix)
    https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH[?versionid=ID]   an Azure blob (or directory)
    hf://ORG/NAME@REVISION[/PATH]                            a Hugging Face repository (or one file)

A remote artifact is *pinned* when it names one immutable thing: ``model.sha256`` (of the file, or
of a folder's manifest: :func:`svai.build.fetch.manifest_digest`), or the store's own version
(S3 ``versionId``, Cloud Storage generation, blob version id, a 40-hex hub commit). A folder has no
store version, so an S3 / Cloud Storage / Blob folder needs ``model.sha256``. ``azureml://`` is
refused: there is no Azure ML registry to build and test the client against here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "SCHEMES",
    "SOURCE_PATTERN",
    "Scheme",
    "Source",
    "parse_source",
    "pin_key",
    "pin_problem",
]

Scheme = Literal["local", "s3", "gs", "azure", "hf"]
SCHEMES: tuple[Scheme, ...] = ("local", "s3", "gs", "azure", "hf")

# Bucket and account names follow each store's own naming rules, so a typo is caught here and not
# as a confusing "access denied" at build time.
_S3 = r"s3://(?P<s3_bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<s3_key>[^?#\s]+)(?:\?versionId=(?P<s3_version>[A-Za-z0-9._\-]{1,1024}))?"
_GS = r"gs://(?P<gs_bucket>[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9])/(?P<gs_object>[^?#\s]+)(?:#(?P<gs_generation>[0-9]{1,20}))?"
_AZURE = r"https://(?P<az_account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/(?P<az_container>[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})/(?P<az_path>[^?#\s]+)(?:\?versionid=(?P<az_version>[0-9A-Za-z:.\-]{1,64}))?"
_HF = r"hf://(?P<hf_repo>[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95})(?:@(?P<hf_revision>[A-Za-z0-9_.\-]{1,64}))?(?:/(?P<hf_path>[^?#\s@]+))?"

SOURCE_PATTERN = f"^(?:{_S3}|{_GS}|{_AZURE}|{_HF})$"
_SOURCE_RE = re.compile(SOURCE_PATTERN)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class Source:
    """A parsed artifact location.

    Attributes:
        scheme: ``local``, ``s3``, ``gs``, ``azure`` or ``hf``.
        uri: the location as written.
        container: bucket (s3, gs), ``ACCOUNT/CONTAINER`` (azure) or ``ORG/NAME`` (hf); empty
            for a local path.
        path: key, object, blob path or file inside the hub repository (empty: the whole
            repository); the relative path for a local artifact.
        version: the store's version (S3 version id, generation, blob version id, hub revision).
        folder: a prefix, directory or whole repository rather than one object.
    """

    scheme: Scheme
    uri: str
    container: str = ""
    path: str = ""
    version: str | None = None
    folder: bool = False

    @property
    def remote(self) -> bool:
        """Whether the artifact lives outside the project folder."""
        return self.scheme != "local"

    @property
    def account(self) -> str:
        """The storage account of an Azure blob (empty for other schemes)."""
        return self.container.split("/", 1)[0] if self.scheme == "azure" else ""

    @property
    def commit(self) -> bool:
        """Whether an ``hf://`` revision is a full commit id (immutable)."""
        return (
            self.scheme == "hf" and self.version is not None and bool(_COMMIT.match(self.version))
        )


def parse_source(uri: str, revision: str | None = None) -> Source:
    """Parse ``model.artifact`` (or a fallback's); a value without ``://`` is a local path.

    Args:
        uri: the location as written.
        revision: ``model.revision`` (an ``hf://`` revision written apart from the location).

    Raises:
        ValueError: an unknown scheme, ``azureml://``, a malformed location, or a revision given
            twice or for another scheme; the message says what the accepted form is.
    """
    source = _parse(uri)
    if revision is None:
        return source
    if source.scheme != "hf":
        raise ValueError("`revision` only applies to hf:// artifacts")
    if source.version is not None:
        raise ValueError("give the hf:// revision once: either `@rev` or `revision:`")
    return replace(source, version=revision)


def _parse(uri: str) -> Source:
    if "://" not in uri:
        return Source("local", uri, path=uri, folder=uri.endswith("/"))
    scheme = uri.split("://", 1)[0]
    if scheme == "azureml":
        raise ValueError(
            "azureml:// registry models are not supported yet (svai has no Azure ML registry to "
            "build and test a client against); copy the model into a blob and write "
            "https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH"
        )
    if scheme == "http" or (scheme == "https" and ".blob.core.windows.net/" not in uri):
        raise ValueError(
            f"only Azure Blob Storage https:// locations are supported "
            f"(https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH), not {uri!r}"
        )
    if scheme not in ("s3", "gs", "https", "hf"):
        raise ValueError(
            f"unknown artifact scheme `{scheme}://`; use a relative path, s3://, gs://, "
            "https://ACCOUNT.blob.core.windows.net/ or hf://"
        )
    match = _SOURCE_RE.fullmatch(uri)
    if match is None:
        raise ValueError(f"`{uri}` is not a well-formed {scheme}:// location; {_FORMS[scheme]}")
    g = match.groupdict()
    if g["s3_bucket"]:
        return Source(
            "s3", uri, g["s3_bucket"], g["s3_key"], g["s3_version"], g["s3_key"].endswith("/")
        )
    if g["gs_bucket"]:
        obj = g["gs_object"]
        return Source("gs", uri, g["gs_bucket"], obj, g["gs_generation"], obj.endswith("/"))
    if g["az_account"]:
        path = g["az_path"]
        container = f"{g['az_account']}/{g['az_container']}"
        return Source("azure", uri, container, path, g["az_version"], path.endswith("/"))
    path = g["hf_path"] or ""
    return Source("hf", uri, g["hf_repo"], path, g["hf_revision"], not path or path.endswith("/"))


_FORMS = {
    "s3": "write s3://BUCKET/KEY or s3://BUCKET/KEY?versionId=ID",
    "gs": "write gs://BUCKET/OBJECT or gs://BUCKET/OBJECT#GENERATION",
    "https": "write https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH[?versionid=ID]",
    "hf": "write hf://ORG/NAME@<40-hex commit>[/PATH]",
}


def pin_problem(
    source: Source, sha256: str | None, *, allow_moving: bool = False
) -> tuple[str, str] | None:
    """Return ``(why, hint)`` when a remote ``source`` is not pinned to one immutable thing.

    Args:
        source: the parsed location.
        sha256: ``model.sha256``, if the spec gives one.
        allow_moving: the spec's explicit opt-in to a moving hub revision (a branch or tag).
    """
    if not source.remote or sha256 is not None:
        return None
    hint = "add `sha256: <hex>` under model (svai build prints the digest it finds)"
    if source.scheme == "hf":
        if source.version is None:
            return (
                f"{source.uri} names no revision, so the model can change under the same spec",
                "write hf://ORG/NAME@<40-hex commit>",
            )
        if not source.commit and not allow_moving:
            return (
                f"hf:// revision `{source.version}` is a branch or tag and can move",
                "write the 40-hex commit id, or set `allow_moving_revision: true` to accept a "
                "model that may change between builds",
            )
        return None
    if source.folder:
        return (f"{source.uri} is a folder, which no store version pins", hint)
    if source.version is None:
        store = {"s3": "?versionId=ID", "gs": "#GENERATION", "azure": "?versionid=ID"}
        return (
            f"{source.uri} can be replaced in place: it carries no version and the spec no sha256",
            f"{hint}, or pin the store's version ({store[source.scheme]})",
        )
    return None


def pin_key(source: Source, sha256: str | None) -> str:
    """A stable text that changes whenever the pinned content may change (for the version id).

    With a ``sha256`` the digest; otherwise the location with its store version.
    """
    if sha256 is not None:
        return f"sha256:{sha256}"
    return f"uri:{source.uri}"
