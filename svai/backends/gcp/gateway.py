"""Lowering of the API layer: API Gateway for api-key/jwt, Cloud Run IAM for iam, allUsers for none."""

from __future__ import annotations

import base64

from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import PendingAction, Ref, Rendered
from svai.backends.gcp.context import VERTEX_INVOKER, LoweringContext
from svai.backends.gcp.openapi import render_openapi
from svai.errors import UsageError

__all__ = ["EntryLowering"]


class EntryLowering(LoweringContext):
    """Creates the API layer in front of the services."""

    def entry(self) -> None:
        """Create the API layer the plan's auth mode asks for."""
        entry = self.plan.entry
        roles = sorted({role for _, _, role in entry.routes})
        fronts = [s.name for s in self.plan.services if s.role in roles and s.name in self.compute]
        if entry.auth == "none":
            for name in fronts:
                if self.compute[name][1] == "vertex":
                    self.notes.append(f"{name}: a Vertex endpoint cannot be made public; IAM only")
                    continue
                self.invoker(f"iam-public-invoke-{name}", name, "allUsers")
            return
        if entry.auth == "iam":
            self.notes.append(
                "auth iam: no gateway; callers authenticate with Google identities and need "
                "roles/run.invoker (Cloud Run) or roles/aiplatform.user (Vertex) granted by name; "
                "throttling is the max-instances x concurrency guard"
            )
            return
        if any(self.compute[n][1] == "vertex" for n in fronts):
            self.notes.append(
                "API Gateway cannot call Vertex AI (it sends ID tokens, Vertex needs OAuth "
                "access tokens): callers use IAM on the endpoint"
            )
            self.pending.append(
                PendingAction(
                    id="vertex.grant_callers",
                    reason=f"auth {entry.auth} is not available in front of a Vertex endpoint",
                    method="manual",
                    url="",
                    body={"role": VERTEX_INVOKER},
                )
            )
            return
        self.gateway(fronts)

    def gateway(self, fronts: list[str]) -> None:
        """Create API Gateway (API, config from the OpenAPI document, gateway) for ``fronts``."""
        entry = self.plan.entry
        self.service_account("gateway", "API Gateway's identity towards the services")
        for name in fronts:
            self.invoker(
                f"iam-gateway-invoke-{name}", name, self.member("sa-gateway"), "sa-gateway"
            )
        api_id = naming.resource_id(self.app, "api")
        by_role = {s.role: s.name for s in self.plan.services if s.name in fronts}
        roles = sorted(by_role)
        refs = tuple(
            Ref(
                self.compute[by_role[r]][0],
                "url" if self.compute[by_role[r]][1] == "function" else "uri",
            )
            for r in roles
        )
        title, version = self.app, self.plan.model_version

        def render(urls: tuple[str, ...]) -> str:
            text = render_openapi(title, version, entry, dict(zip(roles, urls, strict=True)))
            return base64.b64encode(text.encode()).decode()

        self.add("api", T.API, {"api_id": api_id, "display_name": api_id, "labels": self.labels})
        config_id = naming.resource_id(api_id, self.version)
        self.add(
            "api-config",
            T.API_CONFIG,
            {
                "api": api_id,
                # A config is immutable and replaced create-before-delete: a prefix (the provider
                # adds a unique suffix) lets the new one exist beside the old one.
                "api_config_id_prefix": config_id + "-",
                "display_name": config_id,
                "labels": self.labels,
                "openapi_documents": [
                    {"document": {"path": "openapi.yaml", "contents": Rendered(refs, render)}}
                ],
                "gateway_config": {
                    "backend_config": {"google_service_account": self.email("sa-gateway")}
                },
            },
            "api",
            "sa-gateway",
            *(r.key for r in refs),
        )
        self.add(
            "gateway",
            T.GATEWAY,
            {
                "gateway_id": naming.resource_id(self.app, "gw"),
                "api_config": Ref("api-config", "id"),
                "region": self.region,
                "display_name": naming.resource_id(self.app, "gw"),
                "labels": self.labels,
            },
            "api-config",
        )
        if entry.auth == "api-key":
            self.add(
                "api-service",
                T.ENABLED_SERVICE,
                {
                    "service": Ref("api", "managed_service"),
                    "disable_on_destroy": False,
                },
                "api",
            )
            self.pending.append(
                PendingAction(
                    id="apigateway.create_api_key",
                    reason="API keys are credentials: svai never stores one in Pulumi state",
                    method="manual",
                    url="https://console.cloud.google.com/apis/credentials",
                    body={"restrict_to_service": f"{api_id} managed service"},
                )
            )
        if entry.auth == "jwt" and not entry.jwt_issuer:
            raise UsageError("auth jwt needs a JWT issuer")
