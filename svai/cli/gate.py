"""``svai gate --once``: judge the release step in progress from the deployment's bucket.

What the scheduled gate job each backend deploys runs (with the variables below set by the
backend); a person can run it too. It reads the release state and the gate policy from the
bucket, the candidate's live signals from every target's cloud, advances, holds or rolls back
as ``svai promote`` would, and writes the new state back. A rollback is the job doing its work,
so it exits 0 (a scheduler would otherwise retry it); errors exit 2 or 3 as everywhere.
"""

from __future__ import annotations

import click

from svai.cli.output import echo_json, format_option
from svai.cli.window import window_seconds
from svai.compiler.release_state import to_dict
from svai.controller import job
from svai.errors import UsageError

__all__ = ["command"]


@click.command("gate")
@click.option("--once", is_flag=True, help="Run one check (the scheduler repeats it).")
@click.option(
    "--state-url",
    envvar=job.STATE_URL_ENV,
    required=True,
    help=f"The deployment's bucket (s3://, gs://, https://…blob…); env {job.STATE_URL_ENV}.",
)
@click.option("--name", envvar="SVAI_RELEASE_NAME", required=True, help="The spec's name.")
@click.option("--env", "environment", envvar="SVAI_RELEASE_ENV", default="dev", show_default=True)
@click.option("--window", default=None, help="How far back to read (default: rollout.interval).")
@click.option("--dry-run", is_flag=True, help="Decide and print; write nothing.")
@format_option("text", "json")
def command(
    once: bool,
    state_url: str,
    name: str,
    environment: str,
    window: str | None,
    dry_run: bool,
    fmt: str,
) -> None:
    """Advance, hold or roll back the release in progress once, from the bucket's state."""
    if not once:
        raise UsageError("svai gate runs one check per call: pass --once (a scheduler repeats it)")
    run = job.run_once(
        state_url,
        name,
        environment,
        window_s=window_seconds(window) if window else None,
        dry_run=dry_run,
    )
    decision = run.decision
    if fmt == "json":
        echo_json(
            {
                "state": run.location,
                "verdict": decision.verdict,
                "message": decision.transition.message,
                "changed": decision.transition.changed,
                "written": run.written,
                "gates": [
                    {
                        "name": g.name,
                        "threshold": g.threshold,
                        "observed": g.observed,
                        "passed": g.passed,
                        "hold": g.hold,
                    }
                    for g in decision.gates
                ],
                "signals": [s.as_dict() for s in run.signals],
                "after": to_dict(decision.transition.after),
            }
        )
        return
    click.echo(f"gate {name} ({environment}) {run.location}: {decision.verdict}")
    for gate in decision.gates:
        mark = "✓" if gate.passed else "…" if gate.hold else "✗"
        click.echo(f"  {mark} {gate.name} {gate.threshold}: observed {gate.observed}")
    click.echo(decision.transition.message)
    if run.written:
        click.echo(f"release state written to {run.location}")
