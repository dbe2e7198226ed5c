"""Shared state and helpers of GCP lowering: resource keys, identities, service agents, IAM.

:class:`LoweringContext` holds what every part of lowering reads (the plan, its names and labels,
the resource specs made so far) and the helpers they share. The parts are mixins over it:
``compute`` (services, functions, endpoints), ``messaging`` (Pub/Sub), ``gateway`` (the API
layer); ``lowering`` combines them.
"""

from __future__ import annotations

import math
from typing import Any

from svai.backends import images
from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import PendingAction, Ref, ResourceSpec, Text, join
from svai.backends.start_fetch import model_objects
from svai.ir import DeploymentPlan

__all__ = [
    "FUNCTIONS_OFFERINGS",
    "RUN_OFFERINGS",
    "SUPPORTED_OFFERINGS",
    "VERTEX_INVOKER",
    "VERTEX_OFFERINGS",
    "LoweringContext",
    "duration",
    "parse_secret",
]

RUN_OFFERINGS = frozenset({"gcp.cloudrun.service"})
FUNCTIONS_OFFERINGS = frozenset({"gcp.cloudrun.functions"})
VERTEX_OFFERINGS = frozenset({"gcp.vertex.online_prediction", "gcp.vertex.endpoint"})
"""``gcp.vertex.endpoint`` is the compiler catalog's id, ``gcp.vertex.online_prediction`` the
platform sheet's; both mean a Vertex AI online-prediction endpoint."""
SUPPORTED_OFFERINGS = RUN_OFFERINGS | FUNCTIONS_OFFERINGS | VERTEX_OFFERINGS
VERTEX_INVOKER = "roles/aiplatform.user"

_NO_PROJECT = frozenset(
    {
        images.IMAGE,
        T.BUCKET_IAM,
        T.BUCKET_OBJECT,
        T.BUDGET,
        T.CRYPTO_KEY,
        T.CRYPTO_KEY_IAM,
        T.SERVICE_ACCOUNT_IAM,
    }
)
"""Resources that take no ``project`` argument (scoped by their parent instead)."""


def duration(seconds: float) -> str:
    """Return ``seconds`` rounded up as a protobuf duration string (``"30s"``)."""
    return f"{max(0, math.ceil(seconds))}s"


def parse_secret(ref: str, project: str | None) -> tuple[str | None, str, str]:
    """Return ``(project, secret id, version)`` from a Secret Manager reference.

    Accepts ``projects/P/secrets/S[/versions/V]``, ``S:V`` and ``S``; the version defaults to
    ``latest``.
    """
    parts = ref.split("/")
    if len(parts) >= 4 and parts[0] == "projects" and parts[2] == "secrets":
        version = parts[5] if len(parts) >= 6 and parts[4] == "versions" else "latest"
        return parts[1], parts[3], version
    name, _, version = ref.partition(":")
    return project, name, version or "latest"


class LoweringContext:
    """The plan being lowered, the specs made so far, and the helpers every part shares."""

    def __init__(
        self, plan: DeploymentPlan, billing_account: str | None, build_dir: str = ".svai/build/gcp"
    ) -> None:
        self.plan = plan
        self.billing_account = billing_account
        self.build_dir = build_dir
        self.model_objects = model_objects(build_dir)
        """``model.fetch: start``: the weights the build left out (svai.backends.start_fetch)."""
        self.project = plan.account
        self.region = plan.region
        self.app = naming.resource_id(plan.name, max_len=24)
        self.labels = naming.labels(
            plan.tags, svai_app=self.app, svai_model_version=plan.model_version
        )
        self.version = naming.short_version(plan.model_version)
        self.specs: list[ResourceSpec] = []
        self.pending: list[PendingAction] = []
        self.notes: list[str] = []
        self.kms_key: str | Ref | None = None
        self.compute: dict[str, tuple[str, str, str]] = {}
        """service name -> (spec key, kind run|function|vertex, GCP name)."""
        self.secrets = {
            s.env: parse_secret(s.ref, self.project) for s in sorted(plan.secrets, key=str)
        }
        self.imaged = [s for s in plan.services if s.compute.package in ("image", "model")]
        """Services that run ``svai build``'s container image (Cloud Run, Vertex)."""

    def add(
        self,
        key: str,
        token: str,
        args: dict[str, Any],
        *depends: str,
        ignore_changes: tuple[str, ...] = (),
    ) -> str:
        """Append a resource spec under ``key`` (adding the project where the resource takes one)."""
        if any(s.key == key for s in self.specs):
            raise AssertionError(f"duplicate resource key {key}")
        base = {"project": self.project} if self.project and token not in _NO_PROJECT else {}
        # The key is the Pulumi logical name too: what the goldens' URNs are made of.
        spec = ResourceSpec(key, token, key, base | args, ignore_changes, depends_on=depends)
        self.specs.append(spec)
        return key

    def email(self, sa_key: str) -> str | Ref:
        """Return the email of service account ``sa_key`` (a reference when no project is named)."""
        account = naming.account_id(self.app, sa_key.removeprefix("sa-"))
        if self.project:
            return f"{account}@{self.project}.iam.gserviceaccount.com"
        return Ref(sa_key, "email")

    def member(self, sa_key: str) -> Text:
        """Return service account ``sa_key`` as an IAM member (``serviceAccount:...``)."""
        return join("serviceAccount:", self.email(sa_key))

    def service_account(self, name: str, purpose: str) -> str:
        """Create the dedicated service account ``name`` and return its key."""
        return self.add(
            f"sa-{name}",
            T.SERVICE_ACCOUNT,
            {
                "account_id": naming.account_id(self.app, name),
                "display_name": f"svai {self.app} {name}",
                "description": purpose,
            },
        )

    def agent(self, service: str) -> Ref:
        """Create (once) the Google service agent of ``service`` and return its member."""
        key = f"agent-{service.split('.')[0]}"
        if not any(s.key == key for s in self.specs):
            self.add(key, T.SERVICE_IDENTITY, {"service": service})
        return Ref(key, "member")

    def key_depends(self) -> tuple[str, ...]:
        """Return the keys of the grants that let service agents use the data key."""
        return tuple(s.key for s in self.specs if s.key.startswith("key-") and "agent" in s.key)

    def grants_of(self, service: str) -> list[str]:
        """Return the keys of IAM grants made so far to ``service``'s identity."""
        return [s.key for s in self.specs if s.key.startswith(f"iam-{service}-")]

    def project_of(self, sa: str) -> str | Ref:
        """Return the project id, or (when the plan names none) the provider's, read off ``sa``."""
        return self.project or Ref(sa, "project")

    def invoker(self, key: str, service: str, member: Text, *depends: str) -> None:
        """Grant ``member`` the right to invoke ``service`` (Cloud Run, function or Vertex)."""
        if service not in self.compute:
            self.notes.append(f"{key}: no service {service!r} to grant invoke on")
            return
        spec_key, kind, name = self.compute[service]
        if kind == "vertex":
            self.add(
                key,
                T.VERTEX_ENDPOINT_IAM,
                {
                    "endpoint": name,
                    "location": self.region,
                    "role": VERTEX_INVOKER,
                    "member": member,
                },
                spec_key,
                *depends,
            )
        else:
            self.add(
                key,
                T.RUN_IAM,
                {
                    "name": name,
                    "location": self.region,
                    "role": "roles/run.invoker",
                    "member": member,
                },
                spec_key,
                *depends,
            )
