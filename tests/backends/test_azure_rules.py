"""Azure rules: defaults pass, and each rule has a mutant that makes exactly that rule fire."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from functools import cache
from typing import Any, Literal

import pytest
from mutants import DELETE, record_once_under_mutmut, set_path
from plans import async_plan, sync_plan

from svai.backends.azure import AzureBackend
from svai.backends.azure.roles import BROAD_ROLES
from svai.backends.azure.rules import RULES, iso_seconds
from svai.backends.base import RecordedResource
from svai.backends.preview import record
from svai.backends.rules import RULE_ID, evaluate
from svai.ir import Alarm, DeploymentPlan

Resources = tuple[RecordedResource, ...]
CA = "azure.containerapps.consumption"
Auth = Literal["iam", "api-key", "jwt", "none"]


def _jobs_up_to(plan: DeploymentPlan, payload: int) -> DeploymentPlan:
    return dataclasses.replace(
        plan, entry=dataclasses.replace(plan.entry, max_payload_bytes=payload)
    )


PLANS: dict[str, Callable[[], DeploymentPlan]] = {
    "ca": lambda: sync_plan("azure", CA, cache=True),
    # 20 MB jobs: Service Bus Standard carries 256 KB, the claim check the rest.
    "async": lambda: _jobs_up_to(async_plan("azure", CA), 20 * 2**20),
    "ml": lambda: sync_plan("azure", "azure.ml.managed_online_endpoint", canary=True),
    "private": lambda: dataclasses.replace(async_plan("azure", CA), private_network=True),
    # Restricted egress: function apps and Container Apps in the VNet; Azure ML's managed network.
    "egress": lambda: dataclasses.replace(async_plan("azure", CA), egress="none"),
    "ml-egress": lambda: dataclasses.replace(
        sync_plan("azure", "azure.ml.managed_online_endpoint"), egress="private-only"
    ),
}


@cache
def recorded(key: str) -> Resources:
    plan = PLANS[key]()
    backend = AzureBackend(today=lambda: dt.date(2026, 11, 27))
    return record(lambda: backend.program(plan))


record_once_under_mutmut(recorded, PLANS)


def _fired(resources: Resources, plan: DeploymentPlan) -> set[str]:
    return {f.rule for f in evaluate(RULES, resources, plan)}


def _edit(
    resources: Resources, token: str, change: Callable[[dict[str, Any]], None], nth: int = 0
) -> Resources:
    """Return ``resources`` with the ``nth`` resource of ``token`` changed by ``change``."""
    matches = [i for i, r in enumerate(resources) if r.type == token]
    index = matches[nth]
    inputs = copy.deepcopy(dict(resources[index].inputs))
    change(inputs)
    edited = dataclasses.replace(resources[index], inputs=inputs)
    return (*resources[:index], edited, *resources[index + 1 :])


def _drop(resources: Resources, token: str) -> Resources:
    """Return ``resources`` without the first resource of ``token``."""
    index = next(i for i, r in enumerate(resources) if r.type == token)
    return (*resources[:index], *resources[index + 1 :])


STORAGE = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
QUEUE = "azure-native:servicebus:Queue"
APP = "azure-native:app:ContainerApp"
WEB = "azure-native:web:WebApp"
ROLE = "azure-native:authorization:RoleAssignment"
COSMOS = "azure-native:cosmosdb:DatabaseAccount"
ML_WORKSPACE = "azure-native:machinelearningservices:Workspace"
REGISTRY = "azure-native:containerregistry:Registry"
NSG = "azure-native:network:NetworkSecurityGroup"
VNET = "azure-native:network:VirtualNetwork"
ENDPOINT = "azure-native:network:PrivateEndpoint"


def _without_endpoint(group_id: str) -> Callable[[Resources], Resources]:
    """Drop the private endpoint of ``group_id`` (the first one)."""

    def mutate(resources: Resources) -> Resources:
        index = next(
            i
            for i, r in enumerate(resources)
            if r.type == ENDPOINT
            and r.inputs["privateLinkServiceConnections"][0]["groupIds"] == [group_id]
        )
        return (*resources[:index], *resources[index + 1 :])

    return mutate


def _allow_internet_first(inputs: dict[str, Any]) -> None:
    rule = next(r for r in inputs["securityRules"] if r["access"] == "Deny")
    inputs["securityRules"].append({**rule, "access": "Allow", "priority": 90})


Mutant = Callable[[Resources, DeploymentPlan], tuple[Resources, DeploymentPlan]]


def _drop_payload_bucket(inputs: dict[str, Any]) -> None:
    settings = inputs["siteConfig"]["appSettings"]
    settings[:] = [s for s in settings if s["name"] != "SVAI_PAYLOAD_BUCKET"]


def _on(key: str, mutate: Callable[[Resources], Resources]) -> tuple[str, Mutant]:
    return key, lambda resources, plan: (mutate(resources), plan)


def _more_alarms(resources: Resources, plan: DeploymentPlan) -> tuple[Resources, DeploymentPlan]:
    extra = Alarm("concurrency", "concurrency", 50.0, 60, 3, "api")
    return resources, dataclasses.replace(plan, alarms=(*plan.alarms, extra))


def _longer_retention(
    resources: Resources, plan: DeploymentPlan
) -> tuple[Resources, DeploymentPlan]:
    return resources, dataclasses.replace(plan, log_retention_days=90)


def _fewer_retries(resources: Resources, plan: DeploymentPlan) -> tuple[Resources, DeploymentPlan]:
    assert plan.queue is not None
    queue = dataclasses.replace(plan.queue, max_receive_count=2)
    return resources, dataclasses.replace(plan, queue=queue)


def _third_party_jwt(
    resources: Resources, plan: DeploymentPlan
) -> tuple[Resources, DeploymentPlan]:
    entry = dataclasses.replace(
        plan.entry, auth="jwt", jwt_issuer="https://issuer.example.com/", jwt_audience="x"
    )
    return resources, dataclasses.replace(plan, entry=entry)


def _api_keys(resources: Resources, plan: DeploymentPlan) -> tuple[Resources, DeploymentPlan]:
    return resources, dataclasses.replace(
        plan, entry=dataclasses.replace(plan.entry, auth="api-key")
    )


def _plain_secret_setting(inputs: dict[str, Any]) -> None:
    for setting in inputs["siteConfig"]["appSettings"]:
        if setting["name"] == "HF_TOKEN":
            setting["value"] = "plain"


CONTRIBUTOR = next(k for k, v in BROAD_ROLES.items() if v == "Contributor")

MUTANTS: dict[str, list[tuple[str, Mutant]]] = {
    "SVAI_AZ_001": [
        _on("ca", lambda r: _edit(r, STORAGE, set_path("enableHttpsTrafficOnly", False)))
    ],
    "SVAI_AZ_002": [
        _on("ca", lambda r: _edit(r, STORAGE, set_path("minimumTlsVersion", "TLS1_0")))
    ],
    "SVAI_AZ_003": [
        _on("ca", lambda r: _edit(r, STORAGE, set_path("allowBlobPublicAccess", True)))
    ],
    "SVAI_AZ_004": [
        _on(
            "ca",
            lambda r: _edit(
                r, "azure-native:storage:BlobContainer", set_path("publicAccess", "Blob")
            ),
        )
    ],
    "SVAI_AZ_005": [
        _on("ca", lambda r: _edit(r, VAULT, set_path("properties.enablePurgeProtection", False)))
    ],
    "SVAI_AZ_006": [
        _on("ca", lambda r: _edit(r, VAULT, set_path("properties.softDeleteRetentionInDays", 3)))
    ],
    "SVAI_AZ_007": [
        _on("ca", lambda r: _edit(r, VAULT, set_path("properties.enableRbacAuthorization", False)))
    ],
    "SVAI_AZ_008": [
        _on("async", lambda r: _edit(r, QUEUE, set_path("deadLetteringOnMessageExpiration", False)))
    ],
    "SVAI_AZ_009": [
        _on("async", lambda r: _edit(r, QUEUE, set_path("maxDeliveryCount", DELETE))),
        ("async", _fewer_retries),
    ],
    "SVAI_AZ_010": [
        _on("async", lambda r: _edit(r, QUEUE, set_path("lockDuration", "PT10M"))),
        _on("async", lambda r: _edit(r, QUEUE, set_path("lockDuration", "PT30S"))),
    ],
    "SVAI_AZ_011": [
        _on("ca", lambda r: _drop(r, "azure-native:app:ContainerAppsAuthConfig")),
        _on("async", lambda r: _drop(r, "azure-native:web:WebAppAuthSettingsV2")),
        _on(
            "ca",
            lambda r: _edit(
                r,
                "azure-native:app:ContainerAppsAuthConfig",
                set_path("globalValidation.unauthenticatedClientAction", "AllowAnonymous"),
            ),
        ),
    ],
    "SVAI_AZ_012": [
        _on(
            "ca",
            lambda r: _edit(
                r, ROLE, set_path("scope", "/subscriptions/00000000/resourceGroups/svai-rg")
            ),
        )
    ],
    "SVAI_AZ_013": [
        _on(
            "ca",
            lambda r: _edit(
                r,
                ROLE,
                set_path(
                    "roleDefinitionId",
                    f"/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}",
                ),
            ),
        )
    ],
    "SVAI_AZ_014": [
        _on("async", lambda r: _drop(r, "azure-native:monitor:MetricAlert")),
        ("ca", _more_alarms),
    ],
    "SVAI_AZ_015": [
        _on("ca", lambda r: _edit(r, APP, set_path("template.scale.maxReplicas", DELETE))),
        _on(
            "async",
            lambda r: _edit(
                r,
                WEB,
                set_path("functionAppConfig.scaleAndConcurrency.maximumInstanceCount", DELETE),
            ),
        ),
        _on("ml", lambda r: _drop(r, "azure-native:monitor:AutoscaleSetting")),
    ],
    "SVAI_AZ_016": [
        _on(
            "ca",
            lambda r: _edit(
                r, "azure-native:operationalinsights:Workspace", set_path("retentionInDays", 7)
            ),
        ),
        ("ca", _longer_retention),
    ],
    "SVAI_AZ_017": [_on("async", lambda r: _edit(r, WEB, set_path("httpsOnly", False)))],
    "SVAI_AZ_018": [
        _on("async", lambda r: _edit(r, WEB, set_path("siteConfig.minTlsVersion", "1.0")))
    ],
    "SVAI_AZ_019": [
        _on(
            "ca",
            lambda r: _edit(
                r, APP, set_path("configuration.secrets.0", {"name": "hf-token", "value": "x"})
            ),
        ),
        _on("async", lambda r: _edit(r, WEB, _plain_secret_setting)),
    ],
    "SVAI_AZ_020": [
        _on(
            "async",
            lambda r: _edit(
                r, "azure-native:servicebus:Namespace", set_path("disableLocalAuth", False)
            ),
        )
    ],
    "SVAI_AZ_021": [
        _on(
            "ca",
            lambda r: _edit(
                r, "azure-native:cosmosdb:DatabaseAccount", set_path("disableLocalAuth", False)
            ),
        )
    ],
    "SVAI_AZ_022": [_on("ca", lambda r: _drop(r, "azure-native:consumption:Budget"))],
    "SVAI_AZ_023": [_on("ca", lambda r: _edit(r, APP, set_path("tags", {"managed-by": "svai"})))],
    "SVAI_AZ_024": [
        _on(
            "ca",
            lambda r: _edit(
                r, "azure-native:containerregistry:Registry", set_path("adminUserEnabled", True)
            ),
        )
    ],
    "SVAI_AZ_025": [_on("ca", lambda r: _edit(r, STORAGE, set_path("allowSharedKeyAccess", True)))],
    "SVAI_AZ_027": [
        _on(
            "ca", lambda r: _edit(r, STORAGE, set_path("encryption.keySource", "Microsoft.Storage"))
        )
    ],
    "SVAI_AZ_028": [
        ("ml", _third_party_jwt),
        ("ca", _api_keys),
    ],
    "SVAI_AZ_029": [
        _on("private", lambda r: _edit(r, COSMOS, set_path("publicNetworkAccess", "Enabled"))),
        _on(
            "private", lambda r: _edit(r, VAULT, set_path("properties.publicNetworkAccess", DELETE))
        ),
    ],
    "SVAI_AZ_030": [
        ("ca", lambda r, p: (r, dataclasses.replace(p, egress="private-only"))),
        ("private", lambda r, p: (r, dataclasses.replace(p, egress="none"))),
        _on("egress", lambda r: _drop(r, NSG)),
        _on("egress", lambda r: _edit(r, NSG, _allow_internet_first)),
        _on("egress", lambda r: _edit(r, VNET, set_path("subnets.1.networkSecurityGroup", DELETE))),
        _on("egress", lambda r: _edit(r, WEB, set_path("siteConfig.vnetRouteAllEnabled", DELETE))),
        _on(
            "egress",
            lambda r: _edit(
                r, "azure-native:app:ManagedEnvironment", set_path("vnetConfiguration", DELETE)
            ),
        ),
        _on("egress", _without_endpoint("registry")),
        _on("ml-egress", lambda r: _edit(r, ML_WORKSPACE, set_path("managedNetwork", DELETE))),
        _on(
            "ml-egress",
            lambda r: _edit(
                r,
                "azure-native:machinelearningservices:OnlineDeployment",
                set_path("properties.egressPublicNetworkAccess", "Enabled"),
            ),
        ),
    ],
    "SVAI_AZ_031": [
        _on("private", lambda r: _edit(r, REGISTRY, set_path("sku.name", "Basic"))),
        _on("private", lambda r: _edit(r, REGISTRY, set_path("publicNetworkAccess", "Enabled"))),
    ],
    "SVAI_AZ_032": [
        _on("async", lambda r: _drop(r, "azure-native:storage:ManagementPolicy")),
        _on("async", lambda r: _edit(r, "azure-native:web:WebApp", _drop_payload_bucket)),
    ],
    "SVAI_AZ_026": [
        _on("ca", lambda r: _edit(r, APP, set_path("configuration.ingress.allowInsecure", True)))
    ],
}


def test_rule_ids_follow_the_convention_and_are_numbered_in_order() -> None:
    ids = [rule.id for rule in RULES]
    assert ids == [f"SVAI_AZ_{i:03d}" for i in range(1, len(RULES) + 1)]
    assert all(RULE_ID.match(i) for i in ids)
    assert all(rule.checkov is None or rule.checkov.startswith("CKV") for rule in RULES)


def test_every_rule_has_a_mutant() -> None:
    assert sorted(MUTANTS) == [rule.id for rule in RULES]


REFUSED: dict[str, set[str]] = {}
"""What a base plan is refused for by design (nothing: every declared setting is built)."""


@pytest.mark.parametrize("key", sorted(PLANS))
def test_defaults_pass_every_rule(key: str) -> None:
    assert _fired(recorded(key), PLANS[key]()) == REFUSED.get(key, set())


@pytest.mark.parametrize(
    ("rule_id", "index"),
    [(rule_id, i) for rule_id, mutants in sorted(MUTANTS.items()) for i in range(len(mutants))],
)
def test_each_mutant_fires_exactly_its_rule(rule_id: str, index: int) -> None:
    key, mutate = MUTANTS[rule_id][index]
    resources, plan = mutate(recorded(key), PLANS[key]())
    assert _fired(resources, plan) - (REFUSED.get(key, set()) - {rule_id}) == {rule_id}


def test_open_ingress_is_allowed_only_when_the_spec_says_none() -> None:
    plan = sync_plan("azure", CA, auth="none")
    backend = AzureBackend(today=lambda: dt.date(2026, 11, 27))
    resources = record(lambda: backend.program(plan))
    assert not [r for r in resources if r.type == "azure-native:app:ContainerAppsAuthConfig"]
    assert evaluate(RULES, resources, plan) == []
    # The same resources under a plan that asked for authentication fail the ingress rule.
    assert _fired(resources, dataclasses.replace(plan, entry=PLANS["ca"]().entry)) == {
        "SVAI_AZ_011"
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT5M", 300.0),
        ("PT2M24S", 144.0),
        ("P1DT1H", 90000.0),
        ("PT0.5S", 0.5),
        ("5m", None),
        (300, None),
        (None, None),
    ],
)
def test_iso_durations_are_read(text: Any, seconds: float | None) -> None:
    assert iso_seconds(text) == seconds


# ---- every branch of the role-assignment rules ------------------------------------------------

OWNER = next(k for k, v in BROAD_ROLES.items() if v == "Owner")
ACCESS_ADMIN = next(k for k, v in BROAD_ROLES.items() if v == "User Access Administrator")
ROLE_DEFINITIONS = "/providers/Microsoft.Authorization/roleDefinitions"


def _role(path: str, value: Any) -> Callable[[Resources], Resources]:
    return lambda r: _edit(r, ROLE, set_path(path, value))


# case id -> (mutation of the "ca" resources, the rules it must fire)
ROLE_BRANCHES: dict[str, tuple[Callable[[Resources], Resources], set[str]]] = {
    # SVAI_AZ_012: a subscription, a resource group (any case, trailing slash), or no scope.
    "012-subscription": (_role("scope", "/subscriptions/00000000"), {"SVAI_AZ_012"}),
    "012-resource-group-trailing-slash": (
        _role("scope", "/subscriptions/00000000/resourceGroups/svai-rg/"),
        {"SVAI_AZ_012"},
    ),
    "012-resource-group-other-case": (
        _role("scope", "/SUBSCRIPTIONS/00000000/RESOURCEGROUPS/svai-rg"),
        {"SVAI_AZ_012"},
    ),
    "012-no-scope": (_role("scope", DELETE), {"SVAI_AZ_012"}),
    "012-one-resource-passes": (
        _role(
            "scope",
            "/subscriptions/00000000/resourceGroups/svai-rg/providers/"
            "Microsoft.Storage/storageAccounts/svaisa",
        ),
        set(),
    ),
    # SVAI_AZ_013: each broad role, whatever the GUID's case.
    "013-owner": (_role("roleDefinitionId", f"{ROLE_DEFINITIONS}/{OWNER}"), {"SVAI_AZ_013"}),
    "013-user-access-administrator": (
        _role("roleDefinitionId", f"{ROLE_DEFINITIONS}/{ACCESS_ADMIN}"),
        {"SVAI_AZ_013"},
    ),
    "013-contributor-upper-case": (
        _role("roleDefinitionId", f"{ROLE_DEFINITIONS}/{CONTRIBUTOR.upper()}"),
        {"SVAI_AZ_013"},
    ),
}


@pytest.mark.parametrize("case", sorted(ROLE_BRANCHES))
def test_each_branch_of_the_role_assignment_rules(case: str) -> None:
    mutate, expected = ROLE_BRANCHES[case]
    assert _fired(mutate(recorded("ca")), PLANS["ca"]()) == expected


def test_tls_1_3_is_accepted_wherever_1_2_is() -> None:
    resources = _edit(recorded("ca"), STORAGE, set_path("minimumTlsVersion", "TLS1_3"))
    assert _fired(resources, PLANS["ca"]()) == set()
    resources = _edit(recorded("async"), WEB, set_path("siteConfig.minTlsVersion", "1.3"))
    assert _fired(resources, PLANS["async"]()) == set()


# ---- branches `make mutate` found untested --------------------------------------------------------

BLOB_CONTAINER = "azure-native:storage:BlobContainer"


def _on_rule(resources: Resources, plan: DeploymentPlan, rule_id: str) -> list[str | None]:
    return [f.resource for f in evaluate(RULES, resources, plan) if f.rule == rule_id]


def test_a_blob_container_without_a_public_access_setting_is_private() -> None:
    resources = _edit(recorded("async"), BLOB_CONTAINER, lambda i: i.pop("publicAccess"))
    assert _on_rule(resources, PLANS["async"](), "SVAI_AZ_004") == []
    public = _edit(recorded("async"), BLOB_CONTAINER, set_path("publicAccess", "Blob"))
    assert _on_rule(public, PLANS["async"](), "SVAI_AZ_004") == ["summarize-artifacts-container"]


@pytest.mark.parametrize(
    ("change", "fires"),
    [
        (set_path("properties.enableSoftDelete", False), True),
        (set_path("properties.softDeleteRetentionInDays", DELETE), False),  # Azure's 90 days
        (set_path("properties.softDeleteRetentionInDays", 7), False),
        (set_path("properties.softDeleteRetentionInDays", 6), True),
        (set_path("properties.softDeleteRetentionInDays", "90"), True),
    ],
)
def test_soft_delete_keeps_deleted_secrets_for_at_least_seven_days(
    change: Callable[[dict[str, Any]], None], fires: bool
) -> None:
    resources = _edit(recorded("async"), VAULT, change)
    assert _on_rule(resources, PLANS["async"](), "SVAI_AZ_006") == (
        ["summarize-vault"] if fires else []
    )


def _internet_rule(prefix: str, access: str, priority: int) -> dict[str, Any]:
    return {
        "access": access,
        "destinationAddressPrefix": prefix,
        "direction": "Outbound",
        "name": f"{access.lower()}-{priority}",
        "priority": priority,
    }


def _outbound(*rules: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        kept = [r for r in inputs["securityRules"] if r["destinationAddressPrefix"] != "Internet"]
        inputs["securityRules"] = [*kept, *rules]

    return change


@pytest.mark.parametrize(
    ("rules", "denied"),
    [
        ((_internet_rule("*", "Deny", 4000),), True),  # "*" covers the internet
        ((_internet_rule("Internet", "Deny", 4000),), True),
        ((_internet_rule("*", "Deny", 4000), _internet_rule("Internet", "Allow", 3000)), False),
        ((_internet_rule("*", "Deny", 4000), _internet_rule("Internet", "Allow", 4001)), True),
        # A tie proves no order (Azure refuses two rules of one priority anyway).
        ((_internet_rule("*", "Deny", 4000), _internet_rule("Internet", "Allow", 4000)), False),
    ],
)
def test_the_egress_nsg_must_deny_the_internet_before_any_allow(
    rules: tuple[dict[str, Any], ...], denied: bool
) -> None:
    resources = _edit(recorded("egress"), NSG, _outbound(*rules))
    assert _fired(resources, PLANS["egress"]()) == (set() if denied else {"SVAI_AZ_030"})


def test_a_container_app_that_knows_the_bucket_and_limit_is_a_claim_check_front() -> None:
    # The function apps forget the claim-check variables; a Container App that has both (its
    # container's env) is front enough.
    def forget(inputs: dict[str, Any]) -> None:
        settings = inputs["siteConfig"]["appSettings"]
        inputs["siteConfig"]["appSettings"] = [s for s in settings if s["name"] not in CLAIM]

    def know(inputs: dict[str, Any]) -> None:
        # Exactly the two variables (the defaults' fronts know more): they alone suffice.
        inputs["template"]["containers"][0]["env"] = [
            {"name": CLAIM[0], "value": "summarize-artifacts"},
            {"name": CLAIM[1], "value": "262144"},
        ]

    resources = recorded("async")
    for nth in range(sum(1 for r in resources if r.type == WEB_APP)):
        resources = _edit(resources, WEB_APP, forget, nth)
    assert _on_rule(resources, PLANS["async"](), "SVAI_AZ_032") == [None]
    assert _on_rule(_edit(resources, CONTAINER_APP, know), PLANS["async"](), "SVAI_AZ_032") == []


CLAIM = ("SVAI_PAYLOAD_BUCKET", "SVAI_QUEUE_MESSAGE_BYTES")
WEB_APP = "azure-native:web:WebApp"
CONTAINER_APP = "azure-native:app:ContainerApp"


SERVICE_BUS_QUEUE = "azure-native:servicebus:Queue"


def _with_retries(plan: DeploymentPlan, count: int) -> DeploymentPlan:
    assert plan.queue is not None
    return dataclasses.replace(plan, queue=dataclasses.replace(plan.queue, max_receive_count=count))


@pytest.mark.parametrize(("count", "fires"), [(1, False), (0, True)])
def test_a_single_delivery_is_a_retry_budget_when_the_plan_asks_for_it(
    count: int, fires: bool
) -> None:
    plan = _with_retries(PLANS["async"](), max(count, 1))
    resources = _edit(recorded("async"), SERVICE_BUS_QUEUE, set_path("maxDeliveryCount", count))
    assert _on_rule(resources, plan, "SVAI_AZ_009") == (["summarize-jobs"] if fires else [])


@pytest.mark.parametrize(
    ("timeout_s", "lock", "fires"),
    [
        (120.0, "PT2M", False),  # exactly the worker's timeout
        (120.0, "PT1M59S", True),
        (900.0, "PT5M", False),  # a lock never exceeds 5 minutes; longer jobs renew it
        (900.0, "PT5M1S", True),
    ],
)
def test_the_queue_lock_covers_the_worker_timeout_up_to_five_minutes(
    timeout_s: float, lock: str, fires: bool
) -> None:
    plan = PLANS["async"]()
    services = tuple(
        dataclasses.replace(s, compute=dataclasses.replace(s.compute, timeout_s=timeout_s))
        if s.role == "worker"
        else s
        for s in plan.services
    )
    plan = dataclasses.replace(plan, services=services)
    resources = _edit(recorded("async"), SERVICE_BUS_QUEUE, set_path("lockDuration", lock))
    assert _on_rule(resources, plan, "SVAI_AZ_010") == (["summarize-jobs"] if fires else [])


WEB_AUTH = "azure-native:web:WebAppAuthSettingsV2"


def _always_ready_http(inputs: dict[str, Any]) -> None:
    scale = inputs["functionAppConfig"]["scaleAndConcurrency"]
    del scale["triggers"]
    scale["alwaysReady"] = [{"name": "http", "instanceCount": 1}]


@pytest.mark.parametrize(
    ("auth", "change", "fires"),
    [
        ("jwt", None, True),  # an HTTP trigger without its Entra ID / OIDC authentication
        ("iam", None, True),
        ("api-key", None, False),  # the key is checked by the function itself
        ("iam", _always_ready_http, True),  # kept warm for HTTP: an HTTP app
        ("iam", set_path("functionAppConfig.scaleAndConcurrency.alwaysReady", DELETE), True),
    ],
)
def test_a_function_app_serving_http_needs_its_authentication(
    auth: Auth, change: Callable[[dict[str, Any]], None] | None, fires: bool
) -> None:
    resources = recorded("async")
    while any(r.type == WEB_AUTH for r in resources):
        resources = _drop(resources, WEB_AUTH)
    if change is not None:
        resources = _edit(resources, WEB_APP, change)
    plan = PLANS["async"]()
    plan = dataclasses.replace(plan, entry=dataclasses.replace(plan.entry, auth=auth))
    assert ("summarize-submit-app" in _on_rule(resources, plan, "SVAI_AZ_011")) is fires


@pytest.mark.parametrize(
    ("scale", "fires"),
    [
        ({"maxReplicas": 3, "minReplicas": 3}, False),  # the ceiling may equal the floor
        ({"maxReplicas": 2, "minReplicas": 3}, True),
        ({"maxReplicas": 1}, False),  # no floor: Azure's 0
        ({"maxReplicas": 4, "minReplicas": "5"}, False),  # an unreadable floor counts as 0
        ({"minReplicas": 1}, True),
    ],
)
def test_a_container_apps_ceiling_is_at_least_its_floor(scale: dict[str, Any], fires: bool) -> None:
    resources = _edit(recorded("ca"), CONTAINER_APP, set_path("template.scale", scale))
    assert _on_rule(resources, PLANS["ca"](), "SVAI_AZ_015") == (["sentiment-api"] if fires else [])


@pytest.mark.parametrize(("ceiling", "fires"), [(1, False), (0, True)])
def test_a_function_app_needs_an_instance_ceiling_of_at_least_one(
    ceiling: int, fires: bool
) -> None:
    path = "functionAppConfig.scaleAndConcurrency.maximumInstanceCount"
    resources = _edit(recorded("async"), WEB_APP, set_path(path, ceiling))
    found = _on_rule(resources, PLANS["async"](), "SVAI_AZ_015")
    assert found == (["summarize-submit-app"] if fires else [])


@pytest.mark.parametrize(
    "change",
    [set_path("enabled", False), set_path("actions", [])],
    ids=["disabled", "no-action"],
)
def test_an_alert_counts_only_when_enabled_and_acting(
    change: Callable[[dict[str, Any]], None],
) -> None:
    resources = _edit(recorded("ca"), "azure-native:monitor:ScheduledQueryRule", change)
    assert len(_on_rule(resources, PLANS["ca"](), "SVAI_AZ_014")) == 1


def test_a_workspace_keeps_logs_at_most_the_two_years_azure_allows() -> None:
    plan = dataclasses.replace(PLANS["ca"](), log_retention_days=3650)
    resources = _edit(recorded("ca"), WORKSPACE, set_path("retentionInDays", 730))
    assert _on_rule(resources, plan, "SVAI_AZ_016") == []
    shorter = _edit(recorded("ca"), WORKSPACE, set_path("retentionInDays", 729))
    assert len(_on_rule(shorter, plan, "SVAI_AZ_016")) == 1


WORKSPACE = "azure-native:operationalinsights:Workspace"


def _worker_env(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit_env(inputs: dict[str, Any]) -> None:
        for var in inputs["template"]["containers"][0]["env"]:
            if var["name"] == "HF_TOKEN":
                change(var)

    return edit_env


def _plain_value(var: dict[str, Any]) -> None:
    del var["secretRef"]
    var["value"] = "hf_plaintext"


@pytest.mark.parametrize(
    ("change", "fires"),
    [
        (_worker_env(_plain_value), True),  # a container's env carries the secret itself
        (_worker_env(lambda var: None), False),
        (
            set_path(
                "configuration.secrets.0",
                {"name": "hf-token", "keyVaultUrl": "https://v.vault.azure.net/s", "value": "x"},
            ),
            True,  # a Key Vault reference that also carries the value
        ),
    ],
)
def test_a_container_app_passes_secrets_only_by_key_vault_reference(
    change: Callable[[dict[str, Any]], None], fires: bool
) -> None:
    resources = _edit(recorded("async"), CONTAINER_APP, change)
    found = _on_rule(resources, PLANS["async"](), "SVAI_AZ_019")
    assert found == (["summarize-worker"] if fires else [])


@pytest.mark.parametrize(
    ("auth", "issuer", "fires"),
    [
        ("jwt", "https://login.microsoftonline.com/tenant/v2.0", False),  # Entra ID tokens
        ("jwt", None, True),
        ("none", None, True),  # a managed endpoint is never anonymous
        ("iam", None, False),
    ],
)
def test_a_managed_endpoint_takes_entra_id_tokens_only(
    auth: Auth, issuer: str | None, fires: bool
) -> None:
    plan = PLANS["ml"]()
    entry = dataclasses.replace(plan.entry, auth=auth, jwt_issuer=issuer, jwt_audience="x")
    found = _on_rule(recorded("ml"), dataclasses.replace(plan, entry=entry), "SVAI_AZ_028")
    assert (len(found) == 1) is fires and len(found) <= 1


@pytest.mark.parametrize(
    ("customer_key", "create_key", "fires"),
    [
        ("https://v.vault.azure.net/keys/k", False, True),  # the spec's own key is not used
        (None, True, True),  # nor the key created for this deployment
        (None, False, False),  # no key asked for
    ],
)
def test_the_artifact_store_uses_the_key_the_plan_asks_for(
    customer_key: str | None, create_key: bool, fires: bool
) -> None:
    plan = PLANS["ca"]()
    encryption = dataclasses.replace(
        plan.encryption, customer_key=customer_key, create_key=create_key
    )
    plain = _edit(
        recorded("ca"), STORAGE, set_path("encryption", {"keySource": "Microsoft.Storage"})
    )
    found = _on_rule(plain, dataclasses.replace(plan, encryption=encryption), "SVAI_AZ_027")
    assert len(found) == (1 if fires else 0)


STORAGE = "azure-native:storage:StorageAccount"


def test_function_apps_alone_must_also_route_their_egress_into_the_vnet() -> None:
    plan = dataclasses.replace(
        sync_plan("azure", "azure.functions.flex_consumption"), egress="none"
    )
    resources = record(lambda: AzureBackend(today=lambda: dt.date(2026, 11, 27)).program(plan))
    assert not any(r.type == CONTAINER_APP for r in resources)
    assert _on_rule(resources, plan, "SVAI_AZ_030") == []
    outside = _edit(resources, WEB_APP, set_path("siteConfig.vnetRouteAllEnabled", False))
    assert _on_rule(outside, plan, "SVAI_AZ_030") == [None]


@pytest.mark.parametrize(("tier", "fires"), [("Premium", False), ("Standard", True)])
def test_a_premium_service_bus_carries_big_jobs_without_a_claim_check(
    tier: str, fires: bool
) -> None:
    # 512 KB jobs with no claim check: Premium takes 1 MB messages, Standard 256 KB.
    resources = _drop(recorded("async"), "azure-native:storage:ManagementPolicy")
    resources = _edit(
        resources,
        "azure-native:servicebus:Namespace",
        set_path("sku", {"name": tier, "tier": tier}),
    )
    plan = _jobs_up_to(PLANS["async"](), 512 * 1024)
    assert _on_rule(resources, plan, "SVAI_AZ_032") == ([None] if fires else [])


def test_a_dead_letter_alarm_without_a_queue_asks_for_no_alert() -> None:
    # The backend builds no dead-letter alert without a queue (azure/alerts.py); the rule does not
    # ask for one, and still checks every alarm after it.
    plan = PLANS["ca"]()
    assert plan.queue is None
    dead_letters = Alarm("dlq-depth", "dlq_depth", 1.0, 60, 1, "dlq")
    extra = Alarm("concurrency", "concurrency", 50.0, 60, 3, "api")
    alarms = (dead_letters, *plan.alarms)
    assert _on_rule(recorded("ca"), dataclasses.replace(plan, alarms=alarms), "SVAI_AZ_014") == []
    unbuilt = dataclasses.replace(plan, alarms=(*alarms, extra))
    assert _on_rule(recorded("ca"), unbuilt, "SVAI_AZ_014") == [None]


AUTH_CONFIG = "azure-native:app:ContainerAppsAuthConfig"


def test_an_auth_config_protects_its_container_app_by_the_apps_azure_name() -> None:
    # Deployed, the auth config names the app by its Azure name (``ca-...``), not the logical one.
    app = next(r for r in recorded("ca") if r.type == CONTAINER_APP)
    assert app.inputs["containerAppName"] != app.name
    azure_name = app.inputs["containerAppName"]
    by_azure_name = _edit(recorded("ca"), AUTH_CONFIG, set_path("containerAppName", azure_name))
    assert _on_rule(by_azure_name, PLANS["ca"](), "SVAI_AZ_011") == []
    other = _edit(recorded("ca"), AUTH_CONFIG, set_path("containerAppName", "ca-other-api"))
    assert _on_rule(other, PLANS["ca"](), "SVAI_AZ_011") == [app.name]


def test_a_container_without_environment_variables_breaks_no_rule() -> None:
    def add_sidecar(inputs: dict[str, Any]) -> None:
        inputs["template"]["containers"].append({"name": "sidecar", "image": "busybox"})

    resources = _edit(recorded("async"), CONTAINER_APP, add_sidecar)
    assert _fired(resources, PLANS["async"]()) == set()


def test_without_a_worker_the_lock_has_no_timeout_to_cover() -> None:
    plan = PLANS["async"]()
    plan = dataclasses.replace(plan, services=tuple(s for s in plan.services if s.role != "worker"))
    short = _edit(recorded("async"), SERVICE_BUS_QUEUE, set_path("lockDuration", "PT0.5S"))
    assert _on_rule(short, plan, "SVAI_AZ_010") == []
    longer = _edit(recorded("async"), SERVICE_BUS_QUEUE, set_path("lockDuration", "PT5M1S"))
    assert _on_rule(longer, plan, "SVAI_AZ_010") == ["summarize-jobs"]
