"""The clouds svai deploys to: the one list every table keyed by cloud derives from.

It sits below :mod:`svai.spec` so that every stage can read it: the spec's ``Cloud`` type (and
with it the JSON Schema), the resolved spec, the plan (:mod:`svai.ir`), the recommendation, the
catalog's check of its offerings and the backend registry all take their cloud names from here.

Each name has one row of :data:`SPEC_FIELDS`: what ``svai.yaml`` writes for that cloud (its
region spelling, the field naming its account, the form of its secret references and encryption
keys). The spec's models, its error hints and the resolved spec read the rows, so a cloud's spec
fields are added here with its name, not in the modules of each section.

Everything else about a cloud lives in its own folder (``svai/backends/<cloud>/``,
``svai/runtime/cloud/<cloud>.py``) or in the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

__all__ = ["CLOUDS", "SPEC_FIELDS", "Cloud", "CloudFields", "Shape"]

Cloud = Literal["aws", "gcp", "azure"]
"""A cloud name as a spec, a plan and a recommendation spell it."""

CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
"""Every cloud svai knows, in the order its tables list them."""


@dataclass(frozen=True, slots=True)
class Shape:
    """The form of one per-cloud string in ``svai.yaml``.

    Attributes:
        description: What the value is (the JSON Schema's description of the field).
        hint: What a refused value should look like (the diagnostic's hint).
        pattern: The regular expression the value must match (``None``: the field's own type
            decides, as for secret references).
    """

    description: str
    hint: str
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class CloudFields:
    """What ``svai.yaml`` writes for one cloud.

    Attributes:
        named: The cloud's name in a sentence, with its article (``an AWS``).
        region: The pattern of a region name, checked at validation and published in the
            schema (``None``: any name; the cloud's regions are its users' own, such as cluster
            contexts).
        region_example: A real region, shown when one is refused.
        account_field: The target field naming the account, project or subscription
            (``None``: the cloud's targets have none).
        account: The form of that field's value.
        secret: What a ``security.secrets`` reference names on this cloud (``None``: the cloud
            reads no secret manager).
        secret_example: A reference, shown when a secret value is written instead.
        key: The form of a customer-managed key in ``security.encryption_key`` (``None``: the
            cloud takes none).
    """

    named: str
    region: str | None = None
    region_example: str = ""
    account_field: str | None = None
    account: Shape | None = None
    secret: Shape | None = None
    secret_example: str = ""
    key: Shape | None = None


_SECRET_CHARACTERS = "letters, digits and `/_+=.@:-`"

SPEC_FIELDS: Mapping[str, CloudFields] = MappingProxyType(
    {
        "aws": CloudFields(
            named="an AWS",
            region=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$",
            region_example="us-east-1",
            account_field="account",
            account=Shape(
                "AWS account id (12 digits).", "a 12-digit AWS account id", r"^[0-9]{12}$"
            ),
            secret=Shape(
                "Secrets Manager name or ARN.", f"a secret name or ARN ({_SECRET_CHARACTERS})"
            ),
            secret_example="prod/openai-key",
            key=Shape(
                "KMS key ARN.",
                "a KMS key ARN: arn:aws:kms:REGION:ACCOUNT:key/ID (or alias/NAME)",
                r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/\S+$",
            ),
        ),
        "gcp": CloudFields(
            named="a GCP",
            region=r"^[a-z]+-[a-z]+[0-9]{1,2}$",
            region_example="us-central1",
            account_field="project",
            account=Shape(
                "GCP project id.",
                "a GCP project id: 6-30 lowercase letters, digits and dashes",
                r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
            ),
            secret=Shape(
                "Secret Manager secret id (``projects/P/secrets/NAME`` or ``NAME``).",
                f"a secret id ({_SECRET_CHARACTERS})",
            ),
            secret_example="openai-key",
            key=Shape(
                "Cloud KMS key id.",
                "a Cloud KMS key: projects/P/locations/L/keyRings/R/cryptoKeys/K",
                r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
            ),
        ),
        "azure": CloudFields(
            named="an Azure",
            region=r"^[a-z]+[0-9]?$",
            region_example="eastus",
            account_field="subscription",
            account=Shape(
                "Azure subscription id.",
                "an Azure subscription id (a UUID)",
                r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            ),
            secret=Shape(
                "Key Vault secret (``VAULT/NAME``).",
                f"a Key Vault `VAULT/NAME` ({_SECRET_CHARACTERS})",
            ),
            secret_example="my-vault/openai-key",
            key=Shape(
                "Key Vault key URL.",
                "a Key Vault key URL: https://VAULT.vault.azure.net/keys/NAME",
                r"^https://[a-z0-9-]+\.vault\.azure\.net/keys/\S+$",
            ),
        ),
    }
)
"""Cloud name -> what ``svai.yaml`` writes for it; one row per name in :data:`CLOUDS`."""

if tuple(SPEC_FIELDS) != CLOUDS:  # a name without its row (or a row without its name)
    raise ValueError(f"svai.spec.clouds: SPEC_FIELDS lists {tuple(SPEC_FIELDS)}, CLOUDS {CLOUDS}")
