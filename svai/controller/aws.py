"""AWS's gate job routes: every Lambda's ``live`` alias (``UpdateAlias``) and SageMaker's weights.

The alias is routed exactly as the AWS backend routes it from a plan
(:func:`svai.backends.aws.arguments.split_weights` and ``pinned_version``), here from the release
state: the split, the deployed (newest) version and the Lambda version number recorded for each
model version and service at its apply. Where a gate job owns the alias, the backend marks its
``function_version`` and ``routing_config`` ``ignore_changes``, so ``svai apply`` moves it through
this module too (:func:`move`) instead of undoing the job's work.

A SageMaker real-time endpoint, under the AWS scheduled gate (steps guardrails cannot run), is
routed by its variant weights (``UpdateEndpointWeightsAndCapacities``; the plan's version is
variant ``live``, the other ``previous``); there ``up`` sets the same weights through the
endpoint configuration, so ``svai apply`` does not route endpoints after it
(:data:`UP_ROUTES_SERVICES`). :mod:`svai.controller.traffic` says what each cloud's module
offers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from svai.backends.aws import arguments as aws
from svai.backends.aws.codedeploy import calling, client
from svai.compiler.release_state import ReleaseState
from svai.controller.revisions import Moved
from svai.errors import DeployError, UsageError

__all__ = [
    "UP_ROUTES_SERVICES",
    "Route",
    "lambda_routes",
    "move",
    "move_regions",
    "read_route",
    "route",
    "routing",
]

UP_ROUTES_SERVICES = True
"""``up`` sets a SageMaker endpoint's weights with its new configuration: ``apply`` leaves them."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where one Lambda's ``live`` alias must point.

    Attributes:
        service: The service (the key of ``ReleaseState.lambda_versions``).
        function: The function's name.
        version: The Lambda version the alias points at (the main share).
        weights: Lambda version -> share of the other live version (empty: one version).
        region: The AWS region (empty until :func:`move` places it).
    """

    service: str
    function: str
    version: str
    weights: tuple[tuple[str, float], ...]
    region: str = ""

    def line(self) -> str:
        """``us-east-1 fraud-predict:live -> version 4, version 3 at 90%``."""
        others = "".join(f", version {v} at {round(w * 100, 2):g}%" for v, w in self.weights)
        where = f"{self.region} " if self.region else ""
        return f"{where}{self.function}:{aws.LIVE_ALIAS} -> version {self.version}{others}"


def lambda_routes(state: ReleaseState) -> tuple[Route, ...]:
    """The ``live`` alias of every Lambda service of ``state``'s deployed version.

    Empty when no Lambda version was recorded for it (nothing deployed yet, or no Lambda).

    Raises:
        UsageError: the split names a version whose Lambda number was never recorded (the alias
            would send everything to the newest version).
    """
    own = state.deployed
    numbers = state.lambda_versions.get(own or "", {})
    if own is None or not numbers:
        return ()
    others = [v for v, _ in state.split if v != own]
    routes = []
    for service, number in sorted(numbers.items()):
        previous = None
        if others:
            previous = state.lambda_versions.get(others[0], {}).get(service)
            if previous is None:
                raise UsageError(
                    f"the Lambda version number of {others[0]} ({service}) is not in the release "
                    "state; the alias cannot be routed to it"
                )
        weights = aws.split_weights(state.split, own, previous) or {}
        pinned = aws.pinned_version(state.split, own, previous)
        routes.append(
            Route(
                service,
                aws.lambda_name(state.name, service),
                pinned if pinned is not None else number,
                tuple(sorted(weights.items())),
            )
        )
    return tuple(routes)


def move(state: ReleaseState, regions: Sequence[str]) -> tuple[Route, ...]:
    """Point every Lambda's ``live`` alias in ``regions`` at ``state``'s split (``UpdateAlias``).

    Returns what was set, one route per function and region.

    Raises:
        UsageError: a Lambda version number is missing from the state.
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: Lambda refused an update (the message names the function).
    """
    routes = lambda_routes(state)
    moved = []
    for region in regions:
        lambda_ = client("lambda", region)
        for route in routes:
            placed = Route(route.service, route.function, route.version, route.weights, region)
            _update(lambda_, placed)
            moved.append(placed)
    return tuple(moved)


move_regions = move
"""What the gate job routes per target region: every Lambda's ``live`` alias."""


def read_route(function: str, region: str) -> Route:
    """The ``live`` alias of ``function`` in ``region`` as Lambda reports it (``GetAlias``).

    Raises:
        svai.errors.DeployError: Lambda refused the read.
    """
    from botocore.exceptions import ClientError

    try:
        alias = client("lambda", region).get_alias(FunctionName=function, Name=aws.LIVE_ALIAS)
    except ClientError as exc:
        raise DeployError(f"reading {function}:{aws.LIVE_ALIAS} failed: {exc}") from None
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    pairs = tuple(sorted((str(v), float(w)) for v, w in weights.items()))
    return Route("", function, str(alias["FunctionVersion"]), pairs, region)


def _update(lambda_: Any, route: Route) -> None:
    with routing(route.line()):
        lambda_.update_alias(
            FunctionName=route.function,
            Name=aws.LIVE_ALIAS,
            FunctionVersion=route.version,
            # An empty map clears the weights: all traffic on FunctionVersion.
            RoutingConfig={"AdditionalVersionWeights": dict(route.weights)},
        )


@contextmanager
def routing(line: str) -> Iterator[None]:
    """Turn botocore's failures while routing ``line`` into svai's errors.

    Raises:
        svai.errors.ToolMissingError: no AWS credentials.
        svai.errors.DeployError: the service refused or could not be reached.
    """
    with calling(f"routing {line}"):
        yield


def route(moved: Moved, sleep: Callable[[float], None]) -> Moved:
    """``UpdateEndpointWeightsAndCapacities``: each variant's weight is its version's share.

    SageMaker applies it asynchronously (the endpoint is ``Updating`` for a while); a later
    move while it is refuses, which fails that run and leaves the state for the next one.
    """
    region = moved.resource.split(":")[3]
    name = moved.resource.partition(":endpoint/")[2]
    weights = [{"VariantName": v, "DesiredWeight": p / 100} for v, p in moved.split]
    with routing(moved.line()):
        client("sagemaker", region).update_endpoint_weights_and_capacities(
            EndpointName=name, DesiredWeightsAndCapacities=weights
        )
    return moved
