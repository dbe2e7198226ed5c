"""``svai rollback [FILE]``: point all traffic back at the previous (or a named) version."""

from __future__ import annotations

import click

from svai import release
from svai.cli.output import format_option, spec_argument
from svai.cli.promote import echo_release

__all__ = ["command"]


@click.command("rollback")
@spec_argument()
@click.option("--env", "environment", default="dev", show_default=True, help="Environment.")
@click.option("--to", "to", metavar="VERSION", help="Version to restore (default: the previous).")
@click.option("--dry-run", is_flag=True, help="Show the rollback under mocks; change nothing.")
@click.option(
    "--state-only",
    is_flag=True,
    help="Record the rollback in the release state without running Pulumi.",
)
@click.option("--backend-url", help="Pulumi state backend (default: .svai/state).")
@format_option("text", "json")
def command(
    file: str,
    environment: str,
    to: str | None,
    dry_run: bool,
    state_only: bool,
    backend_url: str | None,
    fmt: str,
) -> None:
    """Send all traffic of FILE's deployment back to the previous version in one step.

    The newest version stays deployed at 0%, so this is a traffic switch, not a rebuild.
    --to VERSION restores any version deployed here before (`svai versions` lists them).
    Rolling back to the version already serving is a no-op.
    """
    outcome = release.rollback(
        file,
        environment=environment,
        to=to,
        dry_run=dry_run,
        state_only=state_only,
        backend_url=backend_url,
    )
    echo_release(outcome, fmt, dry_run=dry_run)
