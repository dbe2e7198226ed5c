"""Lower a :class:`DeploymentPlan` to GCP resource specs (pure: no Pulumi, no network).

The output, a :class:`~svai.backends.blueprint.Blueprint` of one group (the deployment), lists
every pulumi-gcp resource with its constructor arguments, with the steps after ``up`` and the
notes as the group's inputs; :mod:`svai.backends.gcp.components` only instantiates them. The
parts live beside this module (``compute``, ``messaging``, ``gateway`` over the shared
``context``); this one combines them and owns the plan-wide pieces. Choices made:

* Compute by offering id: ``gcp.cloudrun.service`` -> Cloud Run v2 service (CPU, or GPU with
  ``nodeSelector.accelerator``, CPU always allocated, the GPU's minimum CPU/memory, gen2);
  ``gcp.cloudrun.functions`` -> Cloud Run functions (gen2); ``gcp.vertex.endpoint`` (the
  compiler catalog's id; ``gcp.vertex.online_prediction``, the platform sheet's, is accepted
  too) -> Vertex AI endpoint. Anything else is a :class:`~svai.errors.UsageError`.
* Encryption: the spec's customer key (CMEK) encrypts the bucket, topics, image repository and
  Vertex endpoint, and the Google service agents get ``cryptoKeyEncrypterDecrypter`` on it;
  ``create_key`` creates a key ring and key (note: GCP never deletes a key ring).
* What Pulumi cannot create: pulumi-gcp 10.2.0 has no resource that uploads a custom model to
  the Vertex Model Registry or deploys it onto an endpoint (``AiEndpoint.deployedModels`` is
  output-only; ``AiEndpointWithModelGardenDeployment`` takes only a Model Garden publisher model
  or a Hugging Face id, not a custom container). Lowering emits both calls as
  :class:`PendingAction` (``vertex.upload_model``, ``vertex.deploy_model``) with the exact REST
  body; they are recorded on the deployment component and run after ``pulumi up``.
* Invoker IAM is authenticated by default: ``api-key``/``jwt`` put API Gateway in front and only
  the gateway's service account gets ``roles/run.invoker``; ``iam`` relies on Cloud Run's own IAM
  (no gateway: API Gateway adds nothing to IAM auth, and callers are granted
  ``roles/run.invoker`` by name); only ``none`` grants ``allUsers``.
* Async: Pub/Sub push (OIDC token of a dedicated push identity) to the worker, with a dead-letter
  topic (+ a pull subscription so dead letters are kept), exponential backoff, and an ack
  deadline >= the worker timeout. Push waits at most 600 s; above that the deadline is capped,
  a note says so and rule ``SVAI_GCP_007`` fires.
"""

from __future__ import annotations

from typing import Any

from svai.backends import images
from svai.backends.gcp import naming
from svai.backends.gcp import tokens as T
from svai.backends.gcp.blueprint import (
    Blueprint,
    Group,
    PendingAction,
    Ref,
    Rendered,
    StorageAgent,
    Text,
)
from svai.backends.gcp.claims import grant_payloads, payload_lifecycle
from svai.backends.gcp.cloud import CLOUD
from svai.backends.gcp.compute import (
    CONTAINER_PORT,
    GPU_MINIMUMS,
    HEALTH_PATH,
    READY_PATH,
    ComputeLowering,
)
from svai.backends.gcp.context import (
    FUNCTIONS_OFFERINGS,
    RUN_OFFERINGS,
    SUPPORTED_OFFERINGS,
    VERTEX_OFFERINGS,
    parse_secret,
)
from svai.backends.gcp.gate import GateLowering
from svai.backends.gcp.gateway import EntryLowering
from svai.backends.gcp.messaging import PUSH_ACK_MAX_S, PUSH_PATH, QueueLowering
from svai.backends.gcp.monitoring import Watched, alert_args, cold_start_metric_args
from svai.backends.gcp.network import lower_network
from svai.backends.gcp.start_fetch import add_model_objects, model_read_condition
from svai.errors import UsageError
from svai.ir import DeploymentPlan

__all__ = [
    "CONTAINER_PORT",
    "FUNCTIONS_OFFERINGS",
    "GPU_MINIMUMS",
    "HEALTH_PATH",
    "PUSH_ACK_MAX_S",
    "PUSH_PATH",
    "READY_PATH",
    "RUN_OFFERINGS",
    "SUPPORTED_OFFERINGS",
    "VERTEX_OFFERINGS",
    "lower",
    "parse_secret",
]

_PRIMARY_ROLES = {
    "artifact.read": "roles/storage.objectViewer",
    "queue.send": "roles/pubsub.publisher",
    "store.read": "roles/datastore.viewer",
    "store.write": "roles/datastore.user",
    "secret.read": "roles/secretmanager.secretAccessor",
    "key.use": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
    "metrics.write": "roles/monitoring.metricWriter",
}
_LATE_ACTIONS = frozenset({"queue.send", "model.invoke"})
_EARLY_ACTIONS = frozenset(
    {"artifact.read", "store.read", "store.write", "secret.read", "key.use", "metrics.write"}
)


def lower(
    plan: DeploymentPlan,
    *,
    billing_account: str | None = None,
    build_dir: str = ".svai/build/gcp",
) -> Blueprint:
    """Return the GCP resources, pending actions and notes for ``plan``.

    Args:
        plan: A plan whose ``cloud`` is ``gcp``.
        billing_account: Billing account id for the budget (``XXXXXX-XXXXXX-XXXXXX``); the
            budget is skipped, with a pending action, when it is ``None``.
        build_dir: The target's ``svai build`` folder; functions upload its ``function.zip``.

    Raises:
        UsageError: The plan is not for GCP, or names an offering or GPU GCP cannot provide.
    """
    if plan.cloud != "gcp":
        raise UsageError(f"the GCP backend cannot compile a plan for {plan.cloud!r}")
    return _Lowering(plan, billing_account, build_dir).run()


class _Lowering(ComputeLowering, QueueLowering, EntryLowering, GateLowering):
    """Combines the parts; owns the plan-wide pieces (storage, keys, IAM, alarms, budget)."""

    def run(self) -> Blueprint:
        plan = self.plan
        for svc in plan.services:
            if svc.compute.offering not in SUPPORTED_OFFERINGS:
                raise UsageError(
                    f"service {svc.name!r}: offering {svc.compute.offering!r} is not supported "
                    f"on GCP (supported: {', '.join(sorted(SUPPORTED_OFFERINGS))})"
                )
        self.encryption()
        self.artifacts()
        lower_network(self)  # restricted egress: the services' VPC (nothing otherwise)
        for svc in plan.services:
            self.service_account(svc.name, f"runs the {svc.role} service of {plan.name}")
        if plan.stores:
            self.firestore()
        if self.imaged:
            self.registry()
            self.image_build()
        # Grants a revision needs at start (secrets, artifact, key) exist before the services.
        self.permissions(_EARLY_ACTIONS)
        grant_payloads(self)
        for svc in plan.services:
            self.compute_for(svc)
        if plan.mode == "async":
            self.queue()
        self.permissions(_LATE_ACTIONS)
        self.entry()
        self.alarms()
        self.release_gate()
        self.budget()
        if plan.dashboard:
            self.notes.append("dashboard: no Cloud Monitoring dashboard is created yet")
        self.notes.append(
            f"log retention ({plan.log_retention_days} d) is a project-wide Cloud Logging "
            "bucket setting on GCP; svai does not change it"
        )
        inputs = {"pendingActions": [a.to_dict() for a in self.pending], "notes": self.notes}
        shape = "AsyncDeployment" if plan.mode == "async" else "RealtimeDeployment"
        return Blueprint((Group(shape, self.app, tuple(self.specs), inputs=inputs),))

    def encryption(self) -> None:
        enc = self.plan.encryption
        if enc.customer_key:
            self.kms_key = enc.customer_key
            key_dep: tuple[str, ...] = ()
        elif enc.create_key:
            self.add("key-ring", T.KEY_RING, {"name": f"{self.app}-keys", "location": self.region})
            self.add(
                "crypto-key",
                T.CRYPTO_KEY,
                {
                    "name": f"{self.app}-data",
                    "key_ring": Ref("key-ring", "id"),
                    "purpose": "ENCRYPT_DECRYPT",
                    "rotation_period": "7776000s",
                    "labels": self.labels,
                },
                "key-ring",
            )
            self.kms_key = Ref("crypto-key", "id")
            key_dep = ("crypto-key",)
        else:
            return
        # Google-managed service agents encrypt on the services' behalf; each needs the key.
        pubsub = self.agent("pubsub.googleapis.com")
        agents: list[tuple[str, Any]] = [("pubsub", pubsub), ("storage", StorageAgent(pubsub.key))]
        if self.imaged:
            agents.append(("artifactregistry", self.agent("artifactregistry.googleapis.com")))
        if any(s.compute.offering in VERTEX_OFFERINGS for s in self.plan.services):
            agents.append(("aiplatform", self.agent("aiplatform.googleapis.com")))
        for name, member in agents:
            depends = (*key_dep, f"agent-{'pubsub' if name == 'storage' else name}")
            self.add(
                f"key-{name}-agent",
                T.CRYPTO_KEY_IAM,
                {
                    "crypto_key_id": self.kms_key,
                    "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                    "member": member,
                },
                *depends,
            )

    def artifacts(self) -> None:
        args: dict[str, Any] = {
            "name": naming.bucket_name(self.project, self.app),
            "location": self.region.upper(),
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "versioning": {"enabled": True},
            "force_destroy": False,
            "labels": self.labels,
        }
        if lifecycle := payload_lifecycle(self.plan):  # job bodies above Pub/Sub's limit
            args["lifecycle_rules"] = lifecycle
        if self.kms_key is not None:
            args["encryption"] = {"default_kms_key_name": self.kms_key}
        self.add("artifacts", T.BUCKET, args, *self.key_depends())
        add_model_objects(self)

    def registry(self) -> None:
        args: dict[str, Any] = {
            "repository_id": self.app,
            "location": self.region,
            "format": "DOCKER",
            "description": f"svai images of {self.plan.name}",
            "docker_config": {"immutable_tags": True},
            "labels": self.labels,
        }
        if self.kms_key is not None:
            args["kms_key_name"] = self.kms_key
        self.add("registry", T.REGISTRY, args, *self.key_depends())

    def image_build(self) -> None:
        """Build ``svai build``'s container context on ``up`` and push it for every service."""
        tags = list(dict.fromkeys(self.image(svc) for svc in self.imaged))
        self.add("image", images.IMAGE, images.image_args(tags, self.build_dir), "registry")
        registry = f"{self.region}-docker.pkg.dev"
        login = CLOUD.registry_login.format(registry=registry)
        self.notes.append(f"image: built and pushed on apply; let Docker push first: {login}")

    def firestore(self) -> None:
        db = naming.resource_id(self.app, "db")
        self.add(
            "firestore",
            T.FIRESTORE_DB,
            {
                "name": db,
                "location_id": self.region,
                "type": "FIRESTORE_NATIVE",
                "concurrency_mode": "OPTIMISTIC",
                "point_in_time_recovery_enablement": "POINT_IN_TIME_RECOVERY_ENABLED",
                "delete_protection_state": "DELETE_PROTECTION_ENABLED",
            },
        )
        if self.kms_key is not None:
            self.notes.append(
                "Firestore uses Google-managed encryption: CMEK for Firestore must be chosen "
                "at database creation with a key in the database's location and is not wired yet"
            )
        for store in self.plan.stores:
            # One TTL field per collection group; expired documents are deleted within ~24 h,
            # so the runtime also checks the expiry itself.
            self.add(
                f"ttl-{store.name}",
                T.FIRESTORE_FIELD,
                {
                    "database": db,
                    "collection": store.name,
                    "field": store.ttl_attribute,
                    "ttl_config": {},
                    "index_config": {},
                },
                "firestore",
            )
            if store.name == "cache":
                self.notes.append(
                    "cache: Firestore with a TTL field (serverless) rather than Memorystore, "
                    "which is instance-based and never scales to zero"
                )

    def permissions(self, actions: frozenset[str]) -> None:
        for ident in sorted(self.plan.identities, key=lambda i: i.service):
            sa = f"sa-{ident.service}"
            if not any(s.key == sa for s in self.specs):
                continue
            member = self.member(sa)
            for perm in sorted(set(ident.permissions), key=lambda p: (p.action, p.resource)):
                if perm.action in actions:
                    self.grant(sa, member, perm.action, perm.resource)

    def grant(self, sa: str, member: Text, action: str, resource: str) -> None:
        key = (
            f"iam-{sa.removeprefix('sa-')}-{action.replace('.', '-')}-{resource.replace(':', '-')}"
        )
        role = _PRIMARY_ROLES.get(action)
        if action == "artifact.read":
            bucket = naming.bucket_name(self.project, self.app)
            grant: dict[str, Any] = {"bucket": bucket, "role": role, "member": member}
            if condition := model_read_condition(bucket, self.model_objects):
                grant["condition"] = condition  # the start-time fetch reads these objects only
            self.add(key, T.BUCKET_IAM, grant, sa, "artifacts")
        elif action == "queue.send" and self.plan.mode == "async":
            topic = naming.resource_id(self.app, "jobs")
            self.add(
                key, T.TOPIC_IAM, {"topic": topic, "role": role, "member": member}, sa, "topic-jobs"
            )
        elif action in {"store.read", "store.write"} and any(
            s.key == "firestore" for s in self.specs
        ):
            db = naming.resource_id(self.app, "db")
            self.add(
                key,
                T.PROJECT_IAM,
                {
                    "project": self.project_of(sa),
                    "role": role,
                    "member": member,
                    # Firestore IAM is project-level; the condition narrows it to this database.
                    "condition": {"title": f"only {db}", "expression": self.db_condition(sa, db)},
                },
                sa,
                "firestore",
            )
        elif action == "secret.read":
            env = resource.removeprefix("secret:")
            if env not in self.secrets:
                self.notes.append(f"{sa}: secret {env!r} is not among the plan's secrets")
                return
            project, secret, _ = self.secrets[env]
            args: dict[str, Any] = {"secret_id": secret, "role": role, "member": member}
            if project:
                args["project"] = project
            self.add(key, T.SECRET_IAM, args, sa)
        elif action == "key.use" and self.kms_key is not None:
            self.add(
                key,
                T.CRYPTO_KEY_IAM,
                {"crypto_key_id": self.kms_key, "role": role, "member": member},
                sa,
            )
        elif action == "metrics.write":
            self.add(
                key,
                T.PROJECT_IAM,
                {"project": self.project_of(sa), "role": role, "member": member},
                sa,
            )
        elif action == "model.invoke":
            self.invoker(key, resource.removeprefix("service:"), member, sa)
        # logs.write: Cloud Run and functions write stdout/stderr logs through the platform,
        # so the identity needs no logging role. queue.consume / dlq.send: with push delivery
        # Pub/Sub calls the worker and its service agent dead-letters; see queue().

    def db_condition(self, sa: str, db: str) -> str | Rendered:
        def render(values: tuple[str, ...]) -> str:
            return f'resource.name.startsWith("projects/{values[0]}/databases/{db}")'

        if self.project:
            return render((self.project,))
        return Rendered((Ref(sa, "project"),), render)

    def alarms(self) -> None:
        # Cold starts per model version, which Cloud Run does not report (svai status reads it).
        self.add("metric-cold-starts", T.LOG_METRIC, cold_start_metric_args(self.app))
        channels: list[Any] = []
        budget = self.plan.budget
        if budget is not None and budget.email:
            self.add(
                "alerts-email",
                T.NOTIFICATION_CHANNEL,
                {
                    "display_name": f"svai {self.app} alerts",
                    "type": "email",
                    "labels": {"email_address": budget.email},
                    "user_labels": self.labels,
                },
            )
            channels = [Ref("alerts-email", "name")]
        for alarm in self.plan.alarms:
            watched = self.watched(alarm.service)
            args = None if watched is None else alert_args(alarm, watched, self.labels, channels)
            if args is None:
                self.notes.append(
                    f"alarm {alarm.name}: no GCP metric for {alarm.metric} on {alarm.service}"
                )
                continue
            depends = [d for d in ("alerts-email",) if channels]
            self.add(f"alert-{naming.resource_id(alarm.name)}", T.ALERT_POLICY, args, *depends)

    def watched(self, service: str) -> Watched | None:
        if service in {"queue", "dlq"}:
            if self.plan.mode != "async":
                return None
            suffix = "jobs-push" if service == "queue" else "jobs-dlq-hold"
            return Watched("subscription", naming.resource_id(self.app, suffix))
        if service not in self.compute:
            return None
        _, kind, name = self.compute[service]
        return Watched("vertex" if kind == "vertex" else "run", name)

    def budget(self) -> None:
        budget = self.plan.budget
        if budget is None:
            return
        if not self.billing_account:
            self.notes.append("budget: no billing account configured (SVAI_GCP_BILLING_ACCOUNT)")
            self.pending.append(
                PendingAction(
                    id="billing.configure_account",
                    reason="a GCP budget belongs to a billing account, which the spec does not name",
                    method="manual",
                    url="",
                    body={"env": "SVAI_GCP_BILLING_ACCOUNT", "monthly_usd": budget.monthly_usd},
                )
            )
            return
        args: dict[str, Any] = {
            "billing_account": self.billing_account,
            "display_name": naming.resource_id(self.app, "budget"),
            "budget_filter": {
                # Scoped by the deployment's label: a project filter needs the project number.
                "labels": {"svai-app": self.app},
                "calendar_period": "MONTH",
                "credit_types_treatment": "INCLUDE_ALL_CREDITS",
            },
            "amount": {
                "specified_amount": {
                    "currency_code": "USD",
                    "units": str(int(budget.monthly_usd)),
                    "nanos": round((budget.monthly_usd % 1) * 1e9),
                }
            },
            "threshold_rules": [
                {
                    "threshold_percent": pct / 100,
                    "spend_basis": "FORECASTED_SPEND" if basis == "forecast" else "CURRENT_SPEND",
                }
                for pct, basis in budget.thresholds
            ],
        }
        if budget.email:
            args["all_updates_rule"] = {
                "monitoring_notification_channels": [Ref("alerts-email", "name")],
                "disable_default_iam_recipients": False,
            }
        self.add("budget", T.BUDGET, args, *(["alerts-email"] if budget.email else []))
