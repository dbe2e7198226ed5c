"""Lowering of the compute services: Cloud Run services (CPU/GPU), functions, Vertex endpoints."""

from __future__ import annotations

import math
import shlex
from typing import Any

from svai.backends import gate
from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import Concat, FileSource, PendingAction, Ref, Text
from svai.backends.gcp.claims import claim_env
from svai.backends.gcp.context import (
    FUNCTIONS_OFFERINGS,
    RUN_OFFERINGS,
    LoweringContext,
    duration,
)
from svai.backends.gcp.gate import GATE_OWNED, revision_name, run_traffic
from svai.backends.gcp.network import function_vpc_access, vpc_access
from svai.backends.start_fetch import BUCKET_ENV
from svai.errors import UsageError
from svai.ir import Service

__all__ = [
    "CONTAINER_PORT",
    "FUNCTIONS_RUNTIME",
    "GPU_MINIMUMS",
    "HEALTH_PATH",
    "READY_PATH",
    "ComputeLowering",
]

CONTAINER_PORT = 8080
READY_PATH = "/readyz"
HEALTH_PATH = "/healthz"
FUNCTIONS_RUNTIME = "python312"

GPU_MINIMUMS: dict[str, tuple[float, int]] = {
    "nvidia-l4": (4.0, 16 * 1024),
    "nvidia-rtx-pro-6000": (20.0, 80 * 1024),
}
"""Cloud Run accelerator -> (minimum vCPU, minimum memory MiB) an instance with it must have."""

_VERTEX_ACCELERATORS = {
    "l4": "NVIDIA_L4",
    "t4": "NVIDIA_TESLA_T4",
    "a100": "NVIDIA_TESLA_A100",
    "a100-80gb": "NVIDIA_A100_80GB",
    "h100": "NVIDIA_H100_80GB",
    "h100-80gb": "NVIDIA_H100_80GB",
    "h200": "NVIDIA_H200_141GB",
    "b200": "NVIDIA_B200",
}


class ComputeLowering(LoweringContext):
    """Creates the specs of each service by its offering."""

    def image(self, svc: Service) -> Text:
        """Return the image reference of ``svc`` in the deployment's Artifact Registry repository."""
        tail = f"{self.app}/{svc.name}:{self.version}"
        if self.project:
            return f"{self.region}-docker.pkg.dev/{self.project}/{tail}"
        return Concat((Ref("registry", "registry_uri"), f"/{svc.name}:{self.version}"))

    def env_for(self, svc: Service) -> tuple[list[tuple[str, str]], list[str]]:
        """Return ``svc``'s plain environment and the secret env names its identity may read."""
        readable = {
            p.resource.removeprefix("secret:")
            for ident in self.plan.identities
            if ident.service == svc.name
            for p in ident.permissions
            if p.action == "secret.read"
        }
        return [*svc.env, *self.runtime_env(svc)], sorted(
            env for env in readable if env in self.secrets
        )

    def runtime_env(self, svc: Service) -> list[tuple[str, str]]:
        """Where the runtime finds its stores and queue (names read by ``svai.runtime.cloud.gcp``).

        The project is left out when the target names none: the runtime then asks the metadata
        server, and a short topic id is completed with that project.
        """
        stores = {store.name for store in self.plan.stores}
        env: list[tuple[str, str]] = []
        if stores & {"results", "cache"}:
            if self.project:
                env.append(("SVAI_GCP_PROJECT", self.project))
            env.append(("SVAI_FIRESTORE_DATABASE", naming.resource_id(self.app, "db")))
        if "results" in stores and svc.role in ("submit", "status", "worker"):
            ttl = next(s.ttl_s for s in self.plan.stores if s.name == "results")
            env += [("SVAI_RESULTS_COLLECTION", "results"), ("SVAI_RESULT_TTL_S", str(ttl))]
        if "cache" in stores and svc.role in ("api", "worker"):
            env.append(("SVAI_CACHE_COLLECTION", "cache"))
        if self.plan.queue is not None and svc.role == "submit":
            topic = naming.resource_id(self.app, "jobs")
            env.append(
                (
                    "SVAI_PUBSUB_TOPIC",
                    f"projects/{self.project}/topics/{topic}" if self.project else topic,
                )
            )
        if self.plan.queue is not None and svc.role == "worker":
            env.append(("SVAI_QUEUE_KIND", "pubsub-push"))
        if self.model_objects and svc.compute.package in ("image", "model"):
            env.append((BUCKET_ENV, naming.bucket_name(self.project, self.app)))
        return env + claim_env(self, svc)

    def compute_for(self, svc: Service) -> None:
        """Create the compute resource of ``svc`` according to its offering."""
        offering = svc.compute.offering
        if offering in RUN_OFFERINGS:
            self.run_service(svc)
        elif offering in FUNCTIONS_OFFERINGS:
            self.function(svc)
        else:
            self.vertex(svc)

    def run_service(self, svc: Service) -> None:
        """Create a Cloud Run v2 service (CPU, or GPU with Cloud Run's required settings)."""
        c = svc.compute
        name = naming.resource_id(self.app, svc.name, max_len=49)
        vcpu, memory_mb, concurrency, timeout = (
            c.vcpu,
            c.memory_mb,
            c.concurrency_per_instance,
            c.timeout_s,
        )
        limits: dict[str, str] = {}
        template: dict[str, Any] = {}
        if c.gpu_type:
            accelerator = "nvidia-" + _gpu_key(c.gpu_type)
            if accelerator not in GPU_MINIMUMS:
                raise UsageError(
                    f"service {svc.name!r}: Cloud Run has no GPU {c.gpu_type!r} "
                    f"(available: {', '.join(sorted(GPU_MINIMUMS))})"
                )
            min_cpu, min_mem = GPU_MINIMUMS[accelerator]
            if vcpu < min_cpu or memory_mb < min_mem:
                self.notes.append(
                    f"{svc.name}: raised to {min_cpu:g} vCPU / {min_mem} MiB, the minimum "
                    f"Cloud Run instance with {accelerator}"
                )
            vcpu, memory_mb = max(vcpu, min_cpu), max(memory_mb, min_mem)
            if c.gpu_count != 1:
                self.notes.append(f"{svc.name}: Cloud Run attaches exactly 1 GPU per instance")
            limits["nvidia.com/gpu"] = "1"
            template["node_selector"] = {"accelerator": accelerator}
            template["gpu_zonal_redundancy_disabled"] = False
        if vcpu < 1 and concurrency > 1:
            self.notes.append(f"{svc.name}: Cloud Run needs concurrency 1 below 1 vCPU")
            concurrency = 1
        if timeout > 3600:
            self.notes.append(f"{svc.name}: request timeout capped at Cloud Run's 3600 s")
            timeout = 3600
        limits |= {"cpu": _cpu(vcpu), "memory": f"{memory_mb}Mi"}
        plain, secret_envs = self.env_for(svc)
        envs: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain]
        for env in secret_envs:
            _, secret, version = self.secrets[env]
            envs.append(
                {
                    "name": env,
                    "value_source": {"secret_key_ref": {"secret": secret, "version": version}},
                }
            )
        container: dict[str, Any] = {
            "image": self.image(svc),
            "ports": {"container_port": CONTAINER_PORT},
            "resources": {
                "limits": dict(sorted(limits.items())),
                # GPU instances must keep CPU allocated (instance-based billing).
                "cpu_idle": not c.gpu_type,
                "startup_cpu_boost": True,
            },
            "startup_probe": {
                "http_get": {"path": READY_PATH, "port": CONTAINER_PORT},
                "period_seconds": 5,
                "timeout_seconds": 3,
                "failure_threshold": 48,
            },
            "liveness_probe": {
                "http_get": {"path": HEALTH_PATH, "port": CONTAINER_PORT},
                "period_seconds": 10,
                "timeout_seconds": 3,
                "failure_threshold": 3,
            },
        }
        if envs:
            container["envs"] = envs
        if c.handler:
            # The handler of a container is its server command: entrypoint + arguments.
            command = shlex.split(c.handler)
            container["commands"] = command[:1]
            if command[1:]:
                container["args"] = command[1:]
        template |= {
            "revision": revision_name(name, self.plan.model_version),
            "service_account": self.email(f"sa-{svc.name}"),
            "execution_environment": "EXECUTION_ENVIRONMENT_GEN2",
            "timeout": duration(timeout),
            "max_instance_request_concurrency": concurrency,
            "scaling": {
                "min_instance_count": c.min_instances,
                "max_instance_count": c.max_instances,
            },
            "labels": self.labels,
            "containers": [container],
        }
        if access := vpc_access(self):  # restricted egress: everything through the VPC
            template["vpc_access"] = access
        built = ["image"] if svc in self.imaged else []  # the revision's image exists first
        built += ["subnet"] if access else []
        depends = [f"sa-{svc.name}", *built, *self.grants_of(svc.name)]
        self.add(
            f"svc-{svc.name}",
            T.RUN_SERVICE,
            {
                "name": name,
                "location": self.region,
                "ingress": "INGRESS_TRAFFIC_ALL",
                "launch_stage": "GA",
                "labels": self.labels,
                "template": template,
                "traffics": self.traffic(name),
                "deletion_protection": False,
            },
            *depends,
            *(["registry"] if any(s.key == "registry" for s in self.specs) else []),
            # The release gate job moves the split (svai.controller.revisions); `up` keeps it.
            ignore_changes=GATE_OWNED if gate.moves_service_traffic(self.plan) else (),
        )
        self.compute[svc.name] = (f"svc-{svc.name}", "run", name)

    def traffic(self, service_name: str) -> list[dict[str, Any]]:
        """Return the traffic targets: all on the latest revision, or the rollout's split.

        Where the gate job routes the service, even one version is named: a later revision
        must take no traffic until the job or ``svai apply`` routes it.
        """
        split = self.plan.rollout.split
        if len(split) <= 1 and not gate.moves_service_traffic(self.plan):
            return [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
        parts = [(p.version, p.percent) for p in split] or [(self.plan.model_version, 100)]
        return run_traffic(service_name, parts)

    def vertex_traffic(self) -> dict[str, int]:
        """Return deployModel's ``trafficSplit``: ``"0"`` is the model being deployed.

        The other versions of the rollout split are already deployed on the endpoint; their
        deployed-model ids are known only to Vertex, so they appear as placeholders
        ``{deployed_model_id:<version>}`` that the request fills in from the endpoint.
        """
        split = self.plan.rollout.split
        if len(split) <= 1:
            return {"0": 100}
        own = self.plan.model_version
        return {
            ("0" if part.version == own else f"{{deployed_model_id:{part.version}}}"): part.percent
            for part in split
        }

    def function(self, svc: Service) -> None:
        """Create a Cloud Run function (gen2) whose source is the artifact in the bucket."""
        c = svc.compute
        name = naming.resource_id(self.app, svc.name, max_len=49)
        if c.gpu_type:
            raise UsageError(
                f"service {svc.name!r}: Cloud Run functions have no GPU; use a service"
            )
        if len(self.plan.rollout.split) > 1:
            self.notes.append(
                f"{svc.name}: Cloud Run functions send all traffic to the latest revision; "
                "the canary split is not applied"
            )
        concurrency = c.concurrency_per_instance if c.vcpu >= 1 else 1
        plain, secret_envs = self.env_for(svc)
        service_config: dict[str, Any] = {
            "available_memory": f"{c.memory_mb}Mi",
            "available_cpu": _cpu(c.vcpu).removesuffix("m") if c.vcpu >= 1 else f"{c.vcpu:g}",
            "timeout_seconds": min(3600, math.ceil(c.timeout_s)),
            "min_instance_count": c.min_instances,
            "max_instance_count": c.max_instances,
            "max_instance_request_concurrency": concurrency,
            "service_account_email": self.email(f"sa-{svc.name}"),
            "ingress_settings": "ALLOW_ALL",
            "all_traffic_on_latest_revision": True,
        }
        # Restricted egress: all traffic through the subnet, as the Cloud Run services.
        service_config |= function_vpc_access(self)
        if plain:
            service_config["environment_variables"] = dict(plain)
        if secret_envs:
            service_config["secret_environment_variables"] = [
                {
                    "key": env,
                    "project_id": self.secrets[env][0] or self.project or "",
                    "secret": self.secrets[env][1],
                    "version": self.secrets[env][2],
                }
                for env in secret_envs
            ]
        # "main:predict" or "main.predict": the functions framework wants the function name.
        entry_point = c.handler.replace(":", ".").rpartition(".")[2] or "handler"
        # Every function of the deployment builds from the one code zip `svai build` wrote.
        code_key = f"{self.plan.name}/{self.plan.model_version}/functions/function.zip"
        if not any(spec.key == "function-code" for spec in self.specs):
            self.add(
                "function-code",
                T.BUCKET_OBJECT,
                {
                    "bucket": naming.bucket_name(self.project, self.app),
                    "name": code_key,
                    "source": FileSource(f"{self.build_dir}/function.zip"),
                },
                "artifacts",
            )
        self.add(
            f"fn-{svc.name}",
            T.FUNCTION,
            {
                "name": name,
                "location": self.region,
                "description": f"svai {self.plan.name} {svc.role} ({self.plan.model_version})",
                "labels": self.labels,
                "build_config": {
                    "runtime": FUNCTIONS_RUNTIME,
                    "entry_point": entry_point,
                    "source": {
                        "storage_source": {
                            "bucket": naming.bucket_name(self.project, self.app),
                            "object": code_key,
                        }
                    },
                },
                "service_config": service_config,
            },
            f"sa-{svc.name}",
            "function-code",
            *(["subnet"] if "direct_vpc_egress" in service_config else []),
            *self.grants_of(svc.name),
        )
        # A gen2 function is served by a Cloud Run service of the same name.
        self.compute[svc.name] = (f"fn-{svc.name}", "function", name)

    def vertex(self, svc: Service) -> None:
        """Create a Vertex AI endpoint and the pending upload/deploy calls Pulumi cannot make."""
        c = svc.compute
        endpoint = naming.endpoint_id(self.project, self.app, svc.name)
        args: dict[str, Any] = {
            "name": endpoint,
            "display_name": naming.resource_id(self.app, svc.name),
            "description": f"svai {self.plan.name} {svc.role} ({self.plan.model_version})",
            "location": self.region,
            "region": self.region,
            "labels": self.labels,
            "dedicated_endpoint_enabled": True,
        }
        if self.kms_key is not None:
            args["encryption_spec"] = {"kms_key_name": self.kms_key}
        self.add(f"endpoint-{svc.name}", T.VERTEX_ENDPOINT, args, *self.key_depends())
        self.compute[svc.name] = (f"endpoint-{svc.name}", "vertex", endpoint)
        # Catalog sizes may read "n1-standard-4+T4": the machine type is the part before "+".
        machine_type = (c.instance_type or "").partition("+")[0] or _vertex_machine(c.gpu_type)
        machine: dict[str, Any] = {"machine_type": machine_type}
        if c.gpu_type:
            accelerator = _VERTEX_ACCELERATORS.get(_gpu_key(c.gpu_type))
            if accelerator is None:
                raise UsageError(f"service {svc.name!r}: Vertex AI has no GPU {c.gpu_type!r}")
            machine |= {"accelerator_type": accelerator, "accelerator_count": max(1, c.gpu_count)}
        if c.min_instances < 1:
            self.notes.append(
                f"{svc.name}: Vertex AI (v1) keeps at least 1 replica; scale to zero is preview"
            )
        project = self.project or "{project}"
        base = f"https://{self.region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{self.region}"
        reason = (
            "pulumi-gcp 10.2.0 has no resource for a custom Vertex model: AiEndpoint."
            "deployedModels is output-only and AiEndpointWithModelGardenDeployment only "
            "deploys Model Garden or Hugging Face models"
        )
        self.pending.append(
            PendingAction(
                id="vertex.upload_model",
                reason=reason,
                method="POST",
                url=f"{base}/models:upload",
                body={
                    "model": {
                        "displayName": f"{self.app}-{self.version}",
                        "artifactUri": f"gs://{naming.bucket_name(self.project, self.app)}/"
                        + self.plan.artifact.object_key.rpartition("/")[0],
                        "labels": self.labels,
                        "containerSpec": {
                            "imageUri": f"{self.region}-docker.pkg.dev/{project}/{self.app}/"
                            f"{svc.name}:{self.version}",
                            "ports": [{"containerPort": CONTAINER_PORT}],
                            "predictRoute": "/predict",
                            "healthRoute": READY_PATH,
                        },
                    }
                },
            )
        )
        email = self.email(f"sa-{svc.name}")
        self.pending.append(
            PendingAction(
                id="vertex.deploy_model",
                reason=reason,
                method="POST",
                url=f"{base}/endpoints/{endpoint}:deployModel",
                body={
                    "deployedModel": {
                        "model": "{vertex.upload_model.model}",
                        "displayName": f"{self.app}-{self.version}",
                        "serviceAccount": email if isinstance(email, str) else "{sa.email}",
                        "dedicatedResources": {
                            "machineSpec": {_camel(k): v for k, v in machine.items()},
                            "minReplicaCount": max(1, c.min_instances),
                            "maxReplicaCount": max(1, c.max_instances),
                        },
                    },
                    "trafficSplit": self.vertex_traffic(),
                },
            )
        )


def _cpu(vcpu: float) -> str:
    return str(int(vcpu)) if float(vcpu).is_integer() else f"{round(vcpu * 1000)}m"


def _gpu_key(gpu_type: str) -> str:
    key = gpu_type.lower().replace("_", "-").replace(" ", "-")
    for prefix in ("nvidia-tesla-", "nvidia-"):
        key = key.removeprefix(prefix)
    return key


def _vertex_machine(gpu_type: str | None) -> str:
    if gpu_type is None:
        return "n1-standard-4"
    return "g2-standard-8" if _gpu_key(gpu_type) == "l4" else "n1-standard-8"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)
