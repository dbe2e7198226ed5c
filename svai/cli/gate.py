"""``svai gate --once``: judge the release step in progress from the deployment's bucket.

What the scheduled gate job each backend deploys runs (with the variables below set by the
backend); a person can run it too. It reads the release state and the gate policy from the
bucket, the candidate's live signals from every target's cloud, advances, holds or rolls back
as ``svai promote`` would, and writes the new state back. A rollback is the job doing its work,
so it exits 0 (a scheduler would otherwise retry it); errors exit 2 or 3 as everywhere.
"""

from __future__ import annotations

from typing import Any

import click

from svai.cli.output import echo_json, format_option
from svai.cli.window import window_seconds
from svai.compiler.release_state import to_dict
from svai.controller import job
from svai.controller.store import open_bucket
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
@click.option("--name", default=None, help="Judge only this spec's release (default: every one).")
@click.option("--env", "environment", default=None, help="Judge only this environment.")
@click.option("--window", default=None, help="How far back to read (default: rollout.interval).")
@click.option("--dry-run", is_flag=True, help="Decide and print; write nothing.")
@format_option("text", "json")
def command(
    once: bool,
    state_url: str,
    name: str | None,
    environment: str | None,
    window: str | None,
    dry_run: bool,
    fmt: str,
) -> None:
    """Advance, hold or roll back every release in progress in the bucket, once.

    The bucket holds one policy per release (``svai apply`` writes it); --name and --env pick
    one. The job the backends deploy runs this with only SVAI_RELEASE_STATE_URL set.
    """
    if not once:
        raise UsageError("svai gate runs one check per call: pass --once (a scheduler repeats it)")
    chosen = [
        (n, e)
        for n, e in job.releases(open_bucket(state_url))
        if name in (None, n) and environment in (None, e)
    ]
    if name is not None and environment is not None and not chosen:
        chosen = [(name, environment)]  # run_once names the missing policy
    if not chosen:
        raise UsageError(f"{state_url}: no release policy here (`svai apply` writes one)")
    seconds = window_seconds(window) if window else None
    runs = [job.run_once(state_url, n, e, window_s=seconds, dry_run=dry_run) for n, e in chosen]
    if fmt == "json":
        echo_json({"runs": [_run_dict(run) for run in runs]})
        return
    for run in runs:
        decision = run.decision
        after = decision.transition.after
        click.echo(f"gate {after.name} ({after.environment}) {run.location}: {decision.verdict}")
        for gate in decision.gates:
            mark = "✓" if gate.passed else "…" if gate.hold else "✗"
            click.echo(f"  {mark} {gate.name} {gate.threshold}: observed {gate.observed}")
        click.echo(decision.transition.message)
        for route in run.moved:
            click.echo(f"traffic moved: {route.line()}")
        if run.written:
            click.echo(f"release state written to {run.location}")
        for revision in run.retired:
            click.echo(f"revision: {revision.line()}")


def _run_dict(run: job.Run) -> dict[str, Any]:
    decision = run.decision
    return {
        "state": run.location,
        "verdict": decision.verdict,
        "message": decision.transition.message,
        "changed": decision.transition.changed,
        "written": run.written,
        "moved": [route.line() for route in run.moved],
        "retired": [revision.line() for revision in run.retired],
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
