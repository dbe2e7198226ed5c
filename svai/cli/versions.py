"""``svai versions [FILE]``: the model versions released per target and environment."""

from __future__ import annotations

import click

from svai import release
from svai.cli.output import echo_json, format_option, spec_argument
from svai.compiler.release_state import to_dict

__all__ = ["command"]


@click.command("versions")
@spec_argument()
@click.option("--env", "environment", default="dev", show_default=True, help="Environment.")
@format_option("text", "json")
def command(file: str, environment: str, fmt: str) -> None:
    """List the versions of FILE: serving, in release, previous, and every one deployed.

    Read from the release state (.svai/releases/<name>-<env>.json) and, once deployed, the
    stack outputs of the last apply.
    """
    report = release.versions(file, environment=environment)
    state = report.state
    if fmt == "json":
        echo_json(
            {
                "name": report.name,
                "environment": report.environment,
                "spec_version": report.spec_version,
                "state": to_dict(state),
                "targets": [
                    {"cloud": c, "region": r, "offering": o, "traffic": how}
                    for c, r, o, how in report.targets
                ],
                "outputs": report.outputs,
            }
        )
        return
    click.echo(f"{report.name} ({report.environment}): {state.status}")
    click.echo(f"  spec version: {report.spec_version}")
    split = ", ".join(f"{v} {p}%" for v, p in state.split) or "nothing deployed"
    click.echo(f"  traffic: {split}")
    if state.candidate is not None:
        click.echo(
            f"  in release: {state.candidate} ({state.strategy}, step {state.step_index + 1})"
        )
    if state.status == "rolled-back" and state.previous is not None:
        click.echo(
            f"  rolled back from: {state.previous} "
            f"(`svai rollback --to {state.previous}` restores it)"
        )
    elif state.previous is not None:
        click.echo(f"  previous: {state.previous} (`svai rollback` restores it)")
    for version in reversed(state.versions):
        marks = [m for m, v in (("serving", state.serving), ("candidate", state.candidate),
                                ("deployed code", state.deployed)) if v == version]  # fmt: skip
        click.echo(f"  - {version}{' (' + ', '.join(marks) + ')' if marks else ''}")
    for cloud, region, offering, how in report.targets:
        click.echo(f"  {cloud} {region}: {offering} — {how}")
    for key, value in sorted(report.outputs.items()):
        click.echo(f"  output {key}: {value}")
