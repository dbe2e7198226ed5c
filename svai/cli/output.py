"""Shared CLI plumbing: the ``--format`` option and JSON printing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["echo_json", "format_option", "spec_argument"]

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str) -> Callable[[F], F]:
    """Add ``--format`` with the given choices (the first is the default)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format: text for people, json for machines.",
    )


def spec_argument() -> Callable[[F], F]:
    """The optional ``FILE`` argument naming the spec (default ``./svai.yaml``)."""
    return click.argument(
        "file", type=click.Path(dir_okay=False, path_type=str), default="svai.yaml", required=False
    )


def echo_json(data: Any) -> None:
    """Print ``data`` as stable, indented JSON."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
