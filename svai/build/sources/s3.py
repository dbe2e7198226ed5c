"""``s3://BUCKET/KEY[?versionId=]``: boto3, with the transfer manager's parallel ranged reads.

The endpoint follows boto3's own settings (``AWS_ENDPOINT_URL``), which is how the tests reach a
moto server on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from svai.build.sources import Obj, Progress, require
from svai.errors import ToolMissingError, UsageError
from svai.spec.source import Source

__all__ = ["S3Store", "open_store"]

_NOT_FOUND = {"404", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


def open_store(source: Source) -> S3Store:
    """An S3 client with the user's credentials.

    Raises:
        ToolMissingError: boto3 is missing or no AWS credentials are found.
    """
    require("boto3", "boto3", "s3")
    import boto3

    session = boto3.Session()
    if session.get_credentials() is None:
        raise ToolMissingError(
            f"model.artifact: no AWS credentials to read {source.uri}; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (`aws configure sso`)"
        )
    return S3Store(source, session.client("s3"))


class S3Store:
    """One pinned S3 object or prefix."""

    def __init__(self, source: Source, client: Any) -> None:
        """Wrap ``client`` (a boto3 S3 client) for ``source``."""
        self.source = source
        self.client = client

    def objects(self) -> list[Obj]:
        """The object (its size from HEAD) or every object under the prefix.

        Raises:
            UsageError: nothing is there.
            ToolMissingError: the credentials are refused.
        """
        bucket, key = self.source.container, self.source.path
        from botocore.exceptions import ClientError

        try:
            if not self.source.folder:
                extra = {"VersionId": self.source.version} if self.source.version else {}
                head = self.client.head_object(Bucket=bucket, Key=key, **extra)
                return [Obj("", key, int(head["ContentLength"]))]
            found = []
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key
            ):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        found.append(Obj(item["Key"][len(key) :], item["Key"], int(item["Size"])))
        except ClientError as exc:
            raise _refused(self.source, exc) from None
        if not found:
            raise UsageError(f"model.artifact: {self.source.uri}: no objects under this prefix")
        return sorted(found, key=lambda o: o.relative)

    def download(self, obj: Obj, target: Path, progress: Progress) -> None:
        """Download with boto3's transfer manager (parallel ranged GETs for large objects).

        Raises:
            UsageError: the object vanished.
            ToolMissingError: the credentials are refused.
        """
        from botocore.exceptions import ClientError

        extra = {"VersionId": self.source.version} if self.source.version else None
        try:
            self.client.download_file(
                self.source.container, obj.key, str(target), ExtraArgs=extra, Callback=progress
            )
        except ClientError as exc:
            raise _refused(self.source, exc) from None


def _refused(source: Source, exc: Any) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND:
        return UsageError(f"model.artifact: {source.uri}: no such object ({code})")
    if code in _DENIED:
        return ToolMissingError(
            f"model.artifact: {source.uri}: the AWS credentials were refused ({code}); set "
            "credentials that may s3:GetObject it (AWS_PROFILE or AWS_ACCESS_KEY_ID)"
        )
    return UsageError(f"model.artifact: {source.uri}: S3 refused the read ({code}: {exc})")
