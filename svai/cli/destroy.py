"""``svai destroy [FILE]``."""

from __future__ import annotations

import click

from svai import api
from svai.cli.deploy_options import deploy_options, echo_result
from svai.cli.output import spec_argument

__all__ = ["command"]


@click.command("destroy")
@spec_argument()
@deploy_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def command(file: str, environment: str, backend_url: str | None, yes: bool) -> None:
    """Delete every resource svai deployed for FILE in the environment (pulumi destroy)."""
    if not yes:
        click.confirm(
            f"Destroy every resource of {file} in environment {environment!r}?", abort=True
        )
    _, outcome = api.deploy(file, "destroy", environment=environment, backend_url=backend_url)
    echo_result(outcome)
