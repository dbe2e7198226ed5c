"""``svai apply [FILE]``."""

from __future__ import annotations

import click

from svai import api
from svai.cli.deploy_options import deploy_options, echo_result
from svai.cli.output import spec_argument

__all__ = ["command"]


@click.command("apply")
@spec_argument()
@deploy_options
@click.option(
    "--allow-high-findings",
    is_flag=True,
    help="Deploy even when svai's rules report high findings.",
)
def command(
    file: str, environment: str, backend_url: str | None, allow_high_findings: bool
) -> None:
    """Deploy FILE (default ./svai.yaml) to every target with Pulumi.

    Needs the pulumi CLI, PULUMI_CONFIG_PASSPHRASE (secrets are encrypted with it) and each
    target cloud's credentials; when one is missing, svai says exactly what to install or set
    and exits 3. Outputs (endpoint and queue URLs) are printed and saved under .svai/outputs.
    """
    _, outcome = api.deploy(
        file,
        "up",
        environment=environment,
        backend_url=backend_url,
        allow_high_findings=allow_high_findings,
    )
    echo_result(outcome)
