"""``svai apply [FILE]``."""

from __future__ import annotations

import click

from svai import release
from svai.cli.output import format_option, spec_argument
from svai.cli.promote import echo_release

__all__ = ["command"]


@click.command("apply")
@spec_argument()
@click.option("--env", "environment", default="dev", show_default=True, help="Environment.")
@click.option(
    "--backend-url",
    help="Pulumi state backend (default: a local file backend in .svai/state beside the spec; "
    "e.g. s3://bucket/prefix, gs://..., azblob://..., https://api.pulumi.com).",
)
@click.option("--dry-run", is_flag=True, help="Show what this step deploys, under mocks.")
@click.option(
    "--evidence",
    type=click.Path(dir_okay=False, path_type=str),
    help="Gate evidence (JSON); default: .svai/measurements.json written by `svai bench`.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    help="A target to deploy (cloud-region, e.g. gcp-us-central1; repeatable). Needed when "
    "some target cannot be served: name every target that can.",
)
@format_option("text", "json")
def command(
    file: str,
    environment: str,
    backend_url: str | None,
    dry_run: bool,
    evidence: str | None,
    targets: tuple[str, ...],
    fmt: str,
) -> None:
    """Deploy FILE (default ./svai.yaml) to every target with Pulumi.

    A first deployment puts the model version at 100%. When another version already serves,
    this is the first step of the spec's rollout (the first canary weight, or the blue-green
    switch with the old version kept warm); `svai promote` takes the next steps and
    `svai rollback` points traffic back. High findings block deployment.

    Needs the pulumi CLI, PULUMI_CONFIG_PASSPHRASE (secrets are encrypted with it) and each
    target cloud's credentials; when one is missing, svai says exactly what to install or set
    and exits 3. Outputs (endpoint and queue URLs) are saved under .svai/outputs.

    When a target cannot be served (`svai recommend` says why), apply deploys nothing until
    --target names every target that can.
    """
    outcome = release.start_release(
        file,
        environment=environment,
        evidence=evidence,
        dry_run=dry_run,
        backend_url=backend_url,
        targets=targets,
    )
    echo_release(outcome, fmt, dry_run=dry_run)
