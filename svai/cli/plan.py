"""``svai plan [FILE]``."""

from __future__ import annotations

import click

from svai import api
from svai.cli.deploy_options import deploy_options, echo_result
from svai.cli.output import echo_json, format_option, spec_argument
from svai.compiler.plan_report import plan_text
from svai.compiler.planned import to_dict

__all__ = ["command"]


@click.command("plan")
@spec_argument()
@format_option("text", "json", "markdown")
@click.option(
    "--preview",
    is_flag=True,
    help="Also run a real `pulumi preview` (needs the pulumi CLI, the passphrase and credentials).",
)
@deploy_options
def command(file: str, fmt: str, preview: bool, environment: str, backend_url: str | None) -> None:
    """Show the complete deployment of FILE (default ./svai.yaml) for every target, offline.

    Runs each target's Pulumi program under mocks — no cloud account, no credentials, no pulumi
    CLI — and prints the recommendation, every resource grouped by component, the cost estimate
    and the findings of svai's infrastructure rules. --format json prints the whole plan
    (recommendation, cloud-neutral plan, resources with their inputs, findings).

    A target no offering can serve is named with its reasons, the others are planned in full,
    and the command exits 1.
    """
    loaded, result = api.plan(file)
    if fmt == "json":
        echo_json(to_dict(result))
    elif fmt == "markdown":
        from svai.compiler.markdown import plan_markdown

        click.echo(plan_markdown(loaded.resolved, result), nl=False)
    else:
        click.echo(plan_text(loaded.resolved, result), nl=False)
    if preview:
        _, outcome = api.deploy(
            file,
            "preview",
            environment=environment,
            backend_url=backend_url,
            planned=(loaded, result),
        )
        echo_result(outcome)
    if result.recommendation.infeasible:
        raise click.exceptions.Exit(1)
