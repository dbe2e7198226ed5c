"""AWS's release state store: an S3 bucket (``s3://BUCKET/PREFIX``), boto3's credentials."""

from __future__ import annotations

import urllib.parse
from typing import Any

from svai.controller import store
from svai.errors import DeployError, ToolMissingError

__all__ = ["Store", "parse"]

_CLOUD = "aws"
_SCHEME = "s3"


def parse(parts: urllib.parse.SplitResult) -> store.Location | None:
    """The location ``parts`` names in this cloud's store, or ``None``: another's."""
    return store.bucket_location(parts, _SCHEME, _CLOUD)


class _S3:
    """The release state in S3 (ETag conditions: ``If-Match``, ``If-None-Match: *``)."""

    def __init__(self, location: store.Location) -> None:
        store.require("boto3", "boto3")
        import boto3

        session = boto3.Session()
        if session.get_credentials() is None:
            raise ToolMissingError(
                f"no AWS credentials to reach {location.url('')}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
        self.location = location
        self.client: Any = session.client("s3")

    def get(self, name: str) -> bytes | None:
        return self.read(name)[0]

    def read(self, name: str) -> tuple[bytes | None, str]:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.key(name)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None, store.ABSENT
            raise DeployError(f"reading {self.location.url(name)} failed: {exc}") from None
        data: bytes = answer["Body"].read()
        return data, str(answer["ETag"])

    def put(self, name: str, data: bytes, *, if_tag: str | None = None) -> None:
        from botocore.exceptions import ClientError

        condition: dict[str, str] = {}
        if if_tag is not None:
            condition = {"IfMatch": if_tag} if if_tag != store.ABSENT else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.location.key(name),
                Body=data,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            # 409 ConditionalRequestConflict: a concurrent conditional write is in flight.
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise store.conflict(self.location, name) from None
            raise DeployError(f"writing {self.location.url(name)} failed: {exc}") from None

    def names(self, folder: str) -> list[str]:
        from botocore.exceptions import ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.key(folder + "/"), Delimiter="/"
        )
        try:
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        except ClientError as exc:
            raise DeployError(f"listing {self.location.url(folder)} failed: {exc}") from None
        return store.relative(self.location, keys)


Store = _S3
"""This cloud's :class:`~svai.controller.store.Bucket`, made with a location."""
