"""Build an AWS :class:`Blueprint` as Pulumi resources: one ``ComponentResource`` per shape.

The shared builder (:mod:`svai.backends.components`) makes each group a component
(``svai:aws:Foundation``, ``svai:aws:FunctionService``, ...) whose children are created with
``parent=self``. This module adds what is AWS's own: the component type of each shape, its
marker (:mod:`svai.backends.aws.blueprint`), and the creator that registers resources by type
token (:mod:`svai.backends.aws.provider`), so a plan never imports ``pulumi_aws``.
"""

from __future__ import annotations

from typing import Any, get_args

import pulumi

from svai.backends import components
from svai.backends.aws.blueprint import Account, Shape
from svai.backends.aws.provider import AWS, caller_account
from svai.backends.blueprint import Blueprint
from svai.backends.docker_build import DOCKER_BUILD
from svai.backends.tokens import Creator, by_package

__all__ = ["TYPES", "build", "create"]

TYPES: dict[str, str] = {shape: f"svai:aws:{shape}" for shape in get_args(Shape)}
"""Group shape -> the type token of its component."""

create: Creator = by_package(AWS, DOCKER_BUILD)
"""How a resource is created; tests swap in :func:`svai.backends.tokens.create_with_sdk`."""


def _markers() -> components.CloudMarker:
    """Resolve AWS's marker; the account id is looked up once per program, when first needed."""
    account: list[pulumi.Output[str]] = []

    def resolve(value: Any, built: components.Built) -> Any:
        if isinstance(value, Account):
            if not account:
                account.append(caller_account())
            return account[0]
        return value

    return resolve


def build(blueprint: Blueprint) -> list[components.GroupComponent]:
    """Create every group of ``blueprint`` as a component; must run inside a Pulumi program."""
    return components.build(blueprint, create=create, types=TYPES, marker=_markers())
