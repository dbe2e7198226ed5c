"""pulumi-gcp as svai registers it: by type token, without importing the SDK.

What the generated classes of the SDK would add to the arguments lowering gives is spelled out
here for the resource types svai creates; the tests derive the same tables from the installed
SDK and record plans both ways to prove nothing differs.
"""

from __future__ import annotations

from svai.backends.gcp import tokens as T
from svai.backends.gcp.cloud import CLOUD
from svai.backends.tokens import Provider

__all__ = ["DATA_KEYS", "DEFAULTS", "GCP", "OUTPUTS", "SECRET_OUTPUTS"]

OUTPUTS: dict[str, tuple[str, ...]] = {
    T.API: ("managed_service",),
    T.FUNCTION: ("url",),
    T.NOTIFICATION_CHANNEL: ("name",),
    T.REGISTRY: ("registry_uri",),
    T.RUN_SERVICE: ("uri",),
    T.SERVICE_ACCOUNT: ("email", "member", "name", "project"),
    T.SERVICE_IDENTITY: ("email", "member"),
}
"""Outputs lowering reads from a resource besides ``id`` and its inputs (SDK snake_case)."""

_LABELLED = (
    T.API,
    T.API_CONFIG,
    T.BUCKET,
    T.CRYPTO_KEY,
    T.DNS_ZONE,
    T.FUNCTION,
    T.GATEWAY,
    T.REGISTRY,
    T.RUN_JOB,
    T.RUN_SERVICE,
    T.SUBSCRIPTION,
    T.TOPIC,
    T.VERTEX_ENDPOINT,
)
SECRET_OUTPUTS: dict[str, tuple[str, ...]] = {
    **{token: ("effectiveLabels", "pulumiLabels") for token in _LABELLED},
    T.BUCKET_OBJECT: ("content", "customerEncryption"),
}
"""Outputs the SDK classes keep secret in the state (every resource with provider labels, and
an object's content and customer encryption key)."""

DATA_KEYS = frozenset({"labels", "user_labels", "annotations", "environment_variables", "limits"})
"""Arguments whose dict value is a user map (labels, annotations, environment variables,
container resource limits such as ``nvidia.com/gpu``): keys are sent as written."""

DEFAULTS: dict[str, dict[str, str]] = {T.DNS_ZONE: {"description": "Managed by Pulumi"}}
"""Top-level arguments the SDK classes fill in when lowering leaves them out."""

GCP = Provider(
    CLOUD.sdk,
    outputs=OUTPUTS,
    data_keys=DATA_KEYS,
    secret_outputs=SECRET_OUTPUTS,
    defaults=DEFAULTS,
)
"""pulumi-gcp by type token."""
