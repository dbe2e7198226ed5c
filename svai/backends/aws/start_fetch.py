"""AWS side of the start-time fetch: the model objects in the artifact bucket, read on exactly them.

One helper per concern, called from :mod:`svai.backends.aws.components`: the objects are uploaded
beside ``model.tar.gz`` (KMS-encrypted like it), and the endpoint's role gets ``s3:GetObject``
on those object ARNs and nothing else of the bucket.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

from svai.backends.aws.policy import policy_document
from svai.backends.aws.provider import AwsResource, res
from svai.backends.start_fetch import ModelObject

__all__ = ["grant_model_read", "model_read_statement", "upload_model_objects"]


def upload_model_objects(
    name: str,
    objects: Sequence[ModelObject],
    bucket: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[str, ...]:
    """Upload each model object by its digest; return their keys."""
    for obj in objects:
        res.s3.BucketObjectv2(
            f"{name}-model-{obj.sha256[:16]}",
            bucket=bucket,
            key=obj.key,
            source=pulumi.FileAsset(obj.upload),
            server_side_encryption="aws:kms",
            kms_key_id=key_arn,
            tags=tags,
            opts=opts,
        )
    return tuple(obj.key for obj in objects)


def model_read_statement(bucket_arn: str, keys: Sequence[str]) -> dict[str, Any]:
    """``s3:GetObject`` on exactly the model's objects."""
    return {
        "Sid": "ReadStartFetchModel",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"{bucket_arn}/{key}" for key in sorted(keys)],
    }


def grant_model_read(
    name: str,
    role: AwsResource,
    bucket_arn: pulumi.Output[str],
    keys: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> AwsResource:
    """The role policy that lets ``role`` read the model's objects."""
    policy: AwsResource = res.iam.RolePolicy(
        name,
        role=role.id,
        policy=bucket_arn.apply(
            lambda arn: json.dumps(
                policy_document([model_read_statement(arn, keys)]), sort_keys=True
            )
        ),
        opts=opts,
    )
    return policy
