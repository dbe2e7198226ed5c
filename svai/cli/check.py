"""``svai check [FILE]``."""

from __future__ import annotations

from pathlib import Path

import click

from svai import __version__, api
from svai.backends.registry import get_backend
from svai.cli.output import echo_json, format_option, spec_argument
from svai.compiler.checklist import RuleInfo
from svai.compiler.readiness import check, fails, report_text, to_dict
from svai.compiler.sarif import to_sarif

__all__ = ["command"]


@click.command("check")
@spec_argument()
@format_option("text", "json", "sarif")
@click.option(
    "--fail-on",
    type=click.Choice(["high", "medium", "low", "never"]),
    default="high",
    show_default=True,
    help="Exit 1 when a finding at or above this severity exists (never: always exit 0).",
)
def command(file: str, fmt: str, fail_on: str) -> None:
    """Run the production-readiness checklist on FILE (default ./svai.yaml) and its plan.

    Rules SVAI_READY_### look at the spec and the compiled plan (async for heavy work, cold
    starts vs the latency target, concurrency guards, DLQ and retries, idempotency, alarms,
    drift, a pinned artifact, canary and rollback, auth and egress, traceability, budgets); the
    infrastructure findings of the plan (SVAI_AWS_### …) are included. --format sarif writes
    SARIF 2.1.0 for code scanning, with each result on the line of svai.yaml to fix.
    """
    loaded, result = api.plan(file)
    infra = [
        RuleInfo(r.id, r.severity, r.title, r.hint, "infrastructure")
        for cloud in sorted({t.plan.cloud for t in result.targets})
        for r in get_backend(cloud).rules()
    ]
    report = check(loaded.resolved, result, infra)
    if fmt == "json":
        echo_json(to_dict(report))
    elif fmt == "sarif":
        text = Path(file).read_text(encoding="utf-8")
        echo_json(
            to_sarif(
                report,
                spec_uri=Path(file).as_posix().removeprefix("./"),
                spec_text=text,
                tool_version=__version__,
            )
        )
    else:
        click.echo(report_text(report), nl=False)
    if fail_on != "never" and fails(report, fail_on):
        raise click.exceptions.Exit(1)
