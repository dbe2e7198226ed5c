"""The ``Foundation`` group and the links every other AWS group reads from it (pure, no Pulumi).

The foundation is the KMS key (unless the spec brings its own), the artifact bucket with its
guards, the objects the services load (``model.tar.gz``, start-fetch objects, function zips) and,
when images ship, the ECR repository and the image svai builds and pushes on ``apply``.
:class:`Links` names where the other groups find what they read (the key, the bucket, the
tables, the queue, the network), as markers, so their lowering never sees a Pulumi output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from svai.backends.aws import arguments as args
from svai.backends.aws import claims, start_fetch
from svai.backends.aws.blueprint import Account
from svai.backends.aws.policy import policy_document
from svai.backends.blueprint import Concat, FileSource, Group, Ref, Rendered
from svai.backends.blueprint import ResourceSpec as Spec
from svai.backends.images import IMAGE, image_args
from svai.backends.start_fetch import model_objects
from svai.compiler.egress import restricts_egress
from svai.ir import DeploymentPlan

__all__ = ["Links", "foundation_group", "links"]

_IMAGE_PACKAGES = ("image", "model")


@dataclass(frozen=True, slots=True)
class Links:
    """What the service groups read from the shared groups, as markers or plain values.

    Attributes:
        plan: The plan.
        account: The account id: the spec's, else the :class:`Account` marker.
        key_arn: The customer key's ARN, or the foundation key's (``Ref("key", "arn")``).
        code_keys: Function service -> the object key of its code zip.
        model_keys: The start-fetch objects' keys (empty without a start-fetch build).
        images: Whether the foundation has the image repository (and the image).
        network: Whether the functions run in the private network (restricted egress).
    """

    plan: DeploymentPlan
    account: Any
    key_arn: Any
    code_keys: Mapping[str, str]
    model_keys: tuple[str, ...]
    images: bool
    network: bool

    bucket_name = Ref("bucket", "bucket")
    bucket_arn = Ref("bucket", "arn")

    @property
    def repository_url(self) -> Ref:
        """The image repository's URL (only when :attr:`images`)."""
        return Ref("images", "repository_url")

    @property
    def image_uri(self) -> Rendered:
        """The pushed image's tag; read through the image so that the push happens first."""
        tag = Concat((self.repository_url, ":", self.plan.model_version))
        return Rendered((Ref("image", "urn"), tag), lambda values: str(values[1]))

    @staticmethod
    def table(store: str, attr: str) -> Ref:
        """An output (``arn``, ``name``) of the table of ``store``."""
        return Ref(f"table:{store}", attr)


def links(plan: DeploymentPlan, build_dir: str) -> Links:
    """The links of ``plan`` built from ``build_dir`` (see :class:`Links`)."""
    key = plan.encryption.customer_key
    return Links(
        plan=plan,
        account=plan.account if plan.account is not None else Account(),
        key_arn=key if key is not None else Ref("key", "arn"),
        code_keys={
            service: f"{plan.name}/{plan.model_version}/lambda/{service}.zip"
            for service in _zip_functions(plan)
        },
        model_keys=tuple(obj.key for obj in model_objects(build_dir)),
        images=any(s.compute.package in _IMAGE_PACKAGES for s in plan.services),
        network=restricts_egress(plan),
    )


def foundation_group(plan: DeploymentPlan, link: Links, build_dir: str) -> Group:
    """The ``Foundation`` group: key (``key``), bucket (``bucket``), objects, repository, image.

    Args:
        plan: The plan.
        link: Its links (:func:`links`).
        build_dir: Where the packaged model and function zips are (uploaded on apply).
    """
    tags = args.tags(plan)
    key_arn = link.key_arn
    specs: list[Spec] = []
    if plan.encryption.customer_key is None:
        policy = Rendered(
            (link.account,),
            lambda acct: json.dumps(_key_policy(acct[0], plan.region), sort_keys=True),
        )
        key = {
            "description": f"svai {plan.name}: data at rest",
            "enable_key_rotation": True,
            "deletion_window_in_days": 30,
            "policy": policy,
            "tags": tags,
        }
        alias = {"name": f"alias/svai/{plan.name}", "target_key_id": Ref("key", "key_id")}
        specs += [
            Spec("key", "aws:kms/key:Key", f"{plan.name}-key", key),
            Spec("key-alias", "aws:kms/alias:Alias", f"{plan.name}-key-alias", alias),
        ]
    specs += _bucket(plan, key_arn, tags)
    bucket = Ref("bucket", "id")
    if plan.queue is not None:  # job bodies above SQS's limit wait here (claim checks)
        specs.append(claims.expire_payloads(plan, bucket))
    uploaded = ("encryption",)
    objects: dict[str, Any] = {
        "server_side_encryption": "aws:kms",
        "kms_key_id": key_arn,
        "tags": tags,
    }
    model = {
        "bucket": bucket,
        "key": plan.artifact.object_key,
        "source": FileSource(f"{build_dir}/model.tar.gz"),
        **objects,
    }
    specs.append(Spec("model", start_fetch.OBJECT, f"{plan.name}-model", model, (), uploaded))
    # model.fetch: start: the weights the build left out, by digest (svai.backends.start_fetch).
    specs += start_fetch.upload_model_objects(
        plan.name, model_objects(build_dir), bucket, key_arn, tags, uploaded
    )
    for service, key_name in link.code_keys.items():
        # Every zip function of a target runs from its one reproducible code zip.
        code = {
            "bucket": bucket,
            "key": key_name,
            "source": FileSource(f"{build_dir}/function.zip"),
            **objects,
        }
        name = f"{plan.name}-{service}-code"
        specs.append(Spec(f"code:{service}", start_fetch.OBJECT, name, code, (), uploaded))
    if link.images:
        specs += _images(plan, link, build_dir, tags)
    return Group("Foundation", f"{plan.name}-foundation", tuple(specs))


def _bucket(plan: DeploymentPlan, key_arn: Any, tags: dict[str, str]) -> list[Spec]:
    """The artifact bucket: private, owner-enforced, versioned, KMS-encrypted, TLS only."""
    name = f"{plan.name}-artifacts"
    bucket = Ref("bucket", "id")
    encryption = {
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": "aws:kms",
            "kms_master_key_id": key_arn,
        },
        "bucket_key_enabled": True,
    }
    tls_only = Rendered(
        (Ref("bucket", "arn"),), lambda arns: json.dumps(_tls_only(arns[0]), sort_keys=True)
    )
    public = {
        "bucket": bucket,
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
    }
    s3 = "aws:s3/"
    return [
        Spec("bucket", f"{s3}bucket:Bucket", name, {"force_destroy": False, "tags": tags}),
        Spec(
            "public-access",
            f"{s3}bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-public-access",
            public,
        ),
        Spec(
            "ownership",
            f"{s3}bucketOwnershipControls:BucketOwnershipControls",
            f"{name}-ownership",
            {"bucket": bucket, "rule": {"object_ownership": "BucketOwnerEnforced"}},
        ),
        Spec(
            "versioning",
            f"{s3}bucketVersioning:BucketVersioning",
            f"{name}-versioning",
            {"bucket": bucket, "versioning_configuration": {"status": "Enabled"}},
        ),
        Spec(
            "encryption",
            f"{s3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-encryption",
            {"bucket": bucket, "rules": [encryption]},
        ),
        Spec(
            "tls-only",
            f"{s3}bucketPolicy:BucketPolicy",
            f"{name}-tls-only",
            {"bucket": bucket, "policy": tls_only},
            depends_on=("public-access",),
        ),
    ]


def _images(plan: DeploymentPlan, link: Links, build_dir: str, tags: dict[str, str]) -> list[Spec]:
    """The image repository, its Lambda pull policy, and svai build's image pushed into it."""
    repository = {
        "name": f"svai/{plan.name}",
        "image_tag_mutability": "IMMUTABLE",
        "image_scanning_configuration": {"scan_on_push": True},
        "encryption_configurations": [{"encryption_type": "KMS", "kms_key": link.key_arn}],
        "force_delete": False,
        "tags": tags,
    }
    pull = Rendered(
        (link.account,), lambda acct: json.dumps(_lambda_pull(plan, acct[0]), sort_keys=True)
    )
    # svai build's container context, built and pushed on apply (pulumi-docker-build).
    tag = Concat((link.repository_url, ":", plan.model_version))
    return [
        Spec("images", "aws:ecr/repository:Repository", f"{plan.name}-images", repository),
        Spec(
            "images-pull",
            "aws:ecr/repositoryPolicy:RepositoryPolicy",
            f"{plan.name}-images-lambda-pull",
            {"repository": Ref("images", "name"), "policy": pull},
        ),
        Spec("image", IMAGE, f"{plan.name}-image", image_args([tag], build_dir)),
    ]


def _zip_functions(plan: DeploymentPlan) -> list[str]:
    """Names of the Lambda functions shipped as zips (endpoint services get a zip proxy)."""
    names = []
    for service in plan.services:
        if service.compute.package == "zip":
            names.append(service.name)
        elif service.compute.kind == "endpoint":
            names.append(f"{service.name}-proxy")
            if args.has_stream_url(plan, service):  # svai.backends.aws.streaming's function
                names.append(f"{service.name}-stream")
    return names


def _key_policy(account: str, region: str) -> dict[str, Any]:
    """The key policy: the account administers the key; logs, alarms and budgets may use it."""
    services = {
        "Logs": f"logs.{region}.amazonaws.com",
        "Alarms": "cloudwatch.amazonaws.com",
        "Budgets": "budgets.amazonaws.com",
    }
    statements_: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    for sid, principal in services.items():
        # Logs identifies the log group in the encryption context; the others the account.
        condition = (
            {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:*"
                }
            }
            if sid == "Logs"
            else {"StringEquals": {"aws:SourceAccount": account}}
        )
        statements_.append(
            {
                "Sid": f"{sid}UseKey",
                "Effect": "Allow",
                "Principal": {"Service": principal},
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": condition,
            }
        )
    return policy_document(statements_)


def _tls_only(bucket_arn: str) -> dict[str, Any]:
    return policy_document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def _lambda_pull(plan: DeploymentPlan, account: str) -> dict[str, Any]:
    return policy_document(
        [
            {
                "Sid": "LambdaPull",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {
                    "StringLike": {
                        "aws:sourceArn": (
                            f"arn:aws:lambda:{plan.region}:{account}:function:{plan.name}-*"
                        )
                    }
                },
            }
        ]
    )
