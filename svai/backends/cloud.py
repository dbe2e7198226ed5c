"""What svai knows about one cloud, as one object: :class:`Cloud`.

Each cloud folder defines its instance in ``svai/backends/<cloud>/cloud.py`` (``CLOUD``), and
:mod:`svai.backends.registry` loads it by the cloud's name from :data:`svai.spec.clouds.CLOUDS`.
The modules that used to keep a table per cloud (credentials in ``automation``, SDK packages in
``registry``/``automation``/``tokens``, mock outputs in ``preview``, rule prefixes in ``rules``,
registry logins in ``images``, release hooks in ``svai.release``, the steps after ``up``) read the object instead, so a new
cloud is a new folder plus its name in the list.

A ``cloud.py`` imports only the standard library and this module: loading it must cost nothing,
because the registry loads it before it knows whether the cloud's backend (and Pulumi) is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from svai.backends.base import Backend, RecordedResource
    from svai.compiler.release_state import ReleaseState
    from svai.ir import DeploymentPlan

__all__ = [
    "SHARED_PACKAGES",
    "AfterUp",
    "Cloud",
    "Mocks",
    "ReleaseHooks",
    "ShiftHooks",
    "Shifted",
    "SplitInputs",
    "TrafficReader",
    "any_set",
    "by_token",
    "mock_id",
    "sdk_of",
    "token_package",
]

SHARED_PACKAGES = frozenset({"docker-build", "svai"})
"""Type-token packages no cloud owns: the image build, and svai's own component types."""

Outputs = Callable[[str, str, Mapping[str, Any]], dict[str, Any]]
"""``(type token, logical name, inputs) -> outputs``: what the preview's mocks answer."""


def mock_id(token: str, name: str) -> str:
    """The id the preview's mocks give a resource of ``token`` with logical name ``name``.

    Rules use it to follow references between recorded resources (a bucket policy's ``bucket``
    input is the bucket's id).
    """
    del token  # one scheme for every type keeps references easy to follow
    return f"{name}-id"


def _default_outputs(token: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    physical = str(inputs.get("name") or name)
    return {"id": mock_id(token, physical), "name": physical}


def _unchanged(state: dict[str, Any]) -> dict[str, Any]:
    return state


@dataclass(frozen=True, slots=True)
class Mocks:
    """How the offline preview answers this cloud's resources and calls.

    Attributes:
        outputs: Plausible provider outputs of a resource, so that outputs chain.
        invokes: Provider function token -> what the mocked call returns.
        state: Turns the inputs into the shape the provider returns them in (before
            ``outputs`` runs); unchanged by default.
        id_from_logical_name: Give every resource :func:`mock_id` of its logical name as its
            id (rules then find references by the logical name).
    """

    outputs: Outputs = _default_outputs
    invokes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    state: Callable[[dict[str, Any]], dict[str, Any]] = _unchanged
    id_from_logical_name: bool = False


SplitInputs = tuple[tuple[str, Any], ...]
"""``((input path, value), ...)``: how one recorded resource splits traffic between versions."""

TrafficReader = Callable[["RecordedResource"], tuple[SplitInputs, ...]]
"""A recorded resource -> the split inputs it carries (none for most resources)."""


def by_token(paths: Mapping[str, tuple[tuple[str, ...], ...]]) -> TrafficReader:
    """A :data:`TrafficReader` for resources whose inputs at ``paths[type token]`` hold the split.

    Args:
        paths: Type token -> the input paths (key tuples) that say how it splits traffic.
    """

    def read(resource: RecordedResource) -> tuple[SplitInputs, ...]:
        wanted = paths.get(resource.type)
        if wanted is None:
            return ()
        values = []
        for path in wanted:
            value: Any = resource.inputs
            for key in path:
                value = value.get(key) if isinstance(value, Mapping) else None
            values.append((".".join(path), value))
        return (tuple(values),)

    return read


def _no_split(resource: RecordedResource) -> tuple[SplitInputs, ...]:
    del resource
    return ()


AfterUp = Callable[["Backend", "DeploymentPlan"], dict[str, Any]]
"""``(the backend that planned the stack, plan) -> what it produced``: see :attr:`Cloud.after_up`."""

ReleaseOptions = Callable[..., dict[str, Any]]
"""``(plan, recorded, *, placeholders) -> backend options`` (see :class:`ReleaseHooks`)."""


@dataclass(frozen=True, slots=True)
class Shifted:
    """One traffic shift a cloud runs by itself for a release step (AWS: a CodeDeploy deployment).

    Attributes:
        where: What it shifts, as the release state keys it (``us-east-1/api``).
        deployment: The cloud's id of the deployment.
        status: The cloud's own word for where it stands (CodeDeploy: ``Created``,
            ``InProgress``, ``Succeeded``, ``Failed``, ``Stopped``, ...).
        outcome: ``shifting`` (still running), ``succeeded`` (all traffic on the new version)
            or ``rolled-back`` (the cloud stopped it and routed the traffic back).
        line: What happened, in one line for people.
    """

    where: str
    deployment: str
    status: str
    outcome: Literal["shifting", "succeeded", "rolled-back"]
    line: str


ShiftStart = Callable[["DeploymentPlan", "ReleaseState", Mapping[str, Any]], tuple[Shifted, ...]]
"""``(plan, state after the step, stack outputs of its up) -> the shifts started``."""


@dataclass(frozen=True, slots=True)
class ShiftHooks:
    """How a cloud runs a release's traffic shift by itself, where it can (AWS: CodeDeploy).

    The backend leaves the routed resource's split ``ignore_changes`` for such a plan; the
    cloud moves it and rolls it back on the release's alarms with nobody in the loop.

    Attributes:
        start: After the ``up`` of a new release's first step: start the shift from the
            version serving to the one ``up`` deployed (none when nothing is to shift).
        read: Where the shifts recorded for the release in progress stand.
        stop: Stop the shifts still running and let the cloud route traffic back (a person's
            ``svai rollback``); returns the ones stopped.
    """

    start: ShiftStart
    read: Callable[[ReleaseState], tuple[Shifted, ...]]
    stop: Callable[[ReleaseState], tuple[Shifted, ...]]


@dataclass(frozen=True, slots=True)
class ReleaseHooks:
    """What a cloud must remember between the steps of a release, and how it uses it.

    Attributes:
        record: Stack outputs -> service name -> the value to remember for the version just
            deployed (AWS: the Lambda version number each function published).
        options: ``(plan, recorded, *, placeholders)`` -> the options the cloud's backend is
            made with for a release step, given what was recorded per model version (empty
            when the plain backend will do). ``placeholders`` allows a plan to name a value
            that was never recorded.
        shift: How the cloud shifts traffic by itself, or ``None``: ``up`` or svai's gate
            job moves it.
    """

    record: Callable[[Mapping[str, Any]], dict[str, str]]
    options: ReleaseOptions
    shift: ShiftHooks | None = None


def any_set(env: Mapping[str, str], *groups: tuple[str, ...]) -> bool:
    """Whether every variable of at least one of ``groups`` is set (non-empty) in ``env``."""
    return any(all(env.get(name) for name in group) for group in groups)


@dataclass(frozen=True, slots=True)
class Cloud:
    """Every fact about one cloud that svai's modules outside its folder need.

    Attributes:
        name: The cloud's name in :data:`svai.spec.clouds.CLOUDS` (``aws``).
        backend: ``module:Class`` of its backend, imported only when the cloud is planned.
        sdk: Import name of its Pulumi provider SDK (``pulumi_aws``); the type-token package
            follows from it (:attr:`token_package`).
        region_key: Stack configuration key of the region (``aws:region``).
        rule_prefix: The cloud's part of its rule ids (``AWS`` in ``SVAI_AWS_001``).
        registry_login: Command that lets Docker push to the deployment's registry, with
            ``{registry}`` and ``{region}`` placeholders.
        credentials: ``(environment, home folder) -> whether credentials are present``; only
            their presence is checked (offline), the cloud judges whether they are valid.
        missing_credentials: What to tell a user who has none.
        offerings: Catalog offerings the backend builds; the recommender never picks another.
        async_workers: Offerings the backend runs as the worker of the async pattern.
        mocks: How the offline preview answers the cloud's resources.
        release: Hooks of a release step, when the cloud needs any.
        gate_routes: What svai's gate job routes during an automatic (canary or blue/green)
            release in place of ``pulumi up`` (:mod:`svai.backends.gate`): ``aliases``, each
            function's ``live`` alias per region (unless the cloud's own deployer shifts it);
            ``services``, the revisions of every exported service; ``None``: nothing.
        traffic: Reads the inputs by which a recorded resource splits traffic between model
            versions (``svai promote`` shows them at each step); none by default.
        after_up: Steps Pulumi cannot express, run by the Automation API driver once ``pulumi
            up`` succeeded (GCP deploys Vertex models this way); what they return is saved with
            the stack outputs. ``None``: the stack is the whole deployment.
    """

    name: str
    backend: str
    sdk: str
    region_key: str
    rule_prefix: str
    registry_login: str
    credentials: Callable[[Mapping[str, str], Path], bool]
    missing_credentials: str
    offerings: frozenset[str]
    async_workers: frozenset[str]
    mocks: Mocks = field(default_factory=Mocks)
    release: ReleaseHooks | None = None
    gate_routes: Literal["aliases", "services"] | None = None
    traffic: TrafficReader = _no_split
    after_up: AfterUp | None = None

    @property
    def token_package(self) -> str:
        """The type-token package of the SDK (``pulumi_azure_native`` -> ``azure-native``)."""
        return token_package(self.sdk)


def token_package(sdk: str) -> str:
    """The type-token package of a Pulumi SDK's import name, by Pulumi's naming convention."""
    return sdk.removeprefix("pulumi_").replace("_", "-")


def sdk_of(package: str) -> str:
    """The import name of the SDK of a type-token package (``docker-build`` -> ``pulumi_docker_build``)."""
    return "pulumi_" + package.replace("-", "_")
