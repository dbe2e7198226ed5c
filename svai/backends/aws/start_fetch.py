"""AWS side of the start-time fetch: the model objects in the artifact bucket, read on exactly them.

Lowered to blueprint resources (pure, no Pulumi) by :mod:`svai.backends.aws.lowering`: the
objects are uploaded beside ``model.tar.gz`` (KMS-encrypted like it), and the endpoint's role gets
``s3:GetObject`` on those object ARNs and nothing else of the bucket.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from svai.backends.aws.policy import policy_document
from svai.backends.blueprint import FileSource, Ref, Rendered, ResourceSpec
from svai.backends.start_fetch import ModelObject

__all__ = ["OBJECT", "grant_model_read", "model_read_statement", "upload_model_objects"]

OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"


def upload_model_objects(
    name: str,
    objects: Sequence[ModelObject],
    bucket: Any,
    key_arn: Any,
    tags: dict[str, str],
    depends_on: tuple[str, ...],
) -> list[ResourceSpec]:
    """Each model object, uploaded by its digest (keys ``model:<sha256 prefix>``)."""
    return [
        ResourceSpec(
            f"model:{obj.sha256[:16]}",
            OBJECT,
            f"{name}-model-{obj.sha256[:16]}",
            {
                "bucket": bucket,
                "key": obj.key,
                "source": FileSource(obj.upload),
                "server_side_encryption": "aws:kms",
                "kms_key_id": key_arn,
                "tags": tags,
            },
            depends_on=depends_on,
        )
        for obj in objects
    ]


def model_read_statement(bucket_arn: str, keys: Sequence[str]) -> dict[str, Any]:
    """``s3:GetObject`` on exactly the model's objects."""
    return {
        "Sid": "ReadStartFetchModel",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"{bucket_arn}/{key}" for key in sorted(keys)],
    }


def grant_model_read(
    key: str, name: str, role: Ref, bucket_arn: Any, keys: Sequence[str]
) -> ResourceSpec:
    """The role policy that lets ``role`` read the model's objects."""
    policy = Rendered(
        (bucket_arn,),
        lambda arns: json.dumps(
            policy_document([model_read_statement(arns[0], keys)]), sort_keys=True
        ),
    )
    return ResourceSpec(
        key, "aws:iam/rolePolicy:RolePolicy", name, {"role": role, "policy": policy}
    )
