"""Options shared by the commands that talk to a real cloud (apply, destroy, plan --preview)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from svai.backends.automation import Result

__all__ = ["deploy_options", "echo_result"]

F = TypeVar("F", bound=Callable[..., Any])


def deploy_options(function: F) -> F:
    """Add ``--env`` and ``--backend-url``."""
    function = click.option(
        "--backend-url",
        help="Pulumi state backend (default: a local file backend in .svai/state beside the "
        "spec; e.g. s3://bucket/prefix, gs://..., azblob://..., https://api.pulumi.com).",
    )(function)
    return click.option(
        "--env",
        "environment",
        default="dev",
        show_default=True,
        help="Environment: one Pulumi stack per spec and environment.",
    )(function)


def echo_result(result: Result) -> None:
    """Print what an Automation API operation changed and its outputs."""
    changes = ", ".join(f"{kind} {count}" for kind, count in sorted(result.changes.items()))
    click.echo(f"{result.operation} {result.stack}: {changes or 'no changes'}")
    for key, value in sorted(result.outputs.items()):
        click.echo(f"  {key}: {value}")
    if result.outputs_file is not None:
        click.echo(f"outputs saved to {result.outputs_file}")
