"""``svai promote [FILE]``: move the release one step forward when its gates pass.

Also holds the rendering shared by ``svai rollback``: the state change, the gates, and per
target the resources that carry the traffic split.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import click

from svai import release
from svai.backends.split import traffic_inputs
from svai.cli.deploy_options import echo_result
from svai.cli.output import echo_json, format_option, spec_argument
from svai.cli.window import window_seconds
from svai.compiler.release_state import ReleaseState, to_dict

__all__ = ["command", "echo_release", "release_dict"]


@click.command("promote")
@spec_argument()
@click.option("--env", "environment", default="dev", show_default=True, help="Environment.")
@click.option("--all", "to_end", is_flag=True, help="Go straight to 100% (all remaining steps).")
@click.option("--dry-run", is_flag=True, help="Show the step under mocks; change nothing.")
@click.option(
    "--evidence",
    type=click.Path(dir_okay=False, path_type=str),
    help=(
        "Gate evidence (JSON); default: .svai/measurements.json written by `svai bench`, and "
        "the live signals read from each target's cloud (this file overrides them)."
    ),
)
@click.option(
    "--state-only",
    is_flag=True,
    help="Record the step in the release state without running Pulumi (when the plan is "
    "deployed by other means).",
)
@click.option(
    "--window",
    default="15m",
    show_default=True,
    help="How far back the live signals are read from the clouds (without --evidence).",
)
@click.option("--backend-url", help="Pulumi state backend (default: .svai/state).")
@format_option("text", "json")
def command(
    file: str,
    environment: str,
    to_end: bool,
    dry_run: bool,
    evidence: str | None,
    state_only: bool,
    window: str,
    backend_url: str | None,
    fmt: str,
) -> None:
    """Promote the release of FILE to its next step (or to 100% with --all).

    The offline gates (rollout.gates: eval-set metric, p95/p99, cost per 1k) and the live
    signals of the step just observed (rollout.rollback_on) are checked first; a failed gate
    rolls back instead and exits 1; too few live requests hold it. Where CodeDeploy runs the
    shift (AWS Lambda), its deployment's outcome decides instead: still shifting holds, a
    rolled-back deployment is recorded and exits 1. At 100% this is a no-op.
    With no release in progress and a new model version in FILE, this starts its release (the
    first step).
    """
    outcome = release.promote(
        file,
        environment=environment,
        to_end=to_end,
        evidence=evidence,
        window_s=window_seconds(window),
        dry_run=dry_run,
        state_only=state_only,
        backend_url=backend_url,
    )
    echo_release(outcome, fmt, dry_run=dry_run)


def release_dict(outcome: release.ReleaseOutcome, *, dry_run: bool) -> dict[str, Any]:
    """Return ``outcome`` as JSON-ready data (the contract of ``--format json``)."""
    planned = outcome.plan
    targets = []
    if planned.result is not None:
        for target in planned.result.targets:
            targets.append(
                {
                    "cloud": target.plan.cloud,
                    "region": target.plan.region,
                    "offering": target.plan.services[-1].compute.offering,
                    "model_version": target.plan.model_version,
                    "split": [
                        {"version": s.version, "percent": s.percent}
                        for s in target.plan.rollout.split
                    ],
                    "traffic_resources": [
                        {"type": kind, "name": name, "inputs": dict(values)}
                        for kind, name, values in traffic_inputs(
                            target.plan.cloud, target.resources
                        )
                    ],
                }
            )
    return {
        "action": planned.action,
        "environment": planned.environment,
        "dry_run": dry_run,
        "changed": planned.transition.changed,
        "message": planned.transition.message,
        "gate_failed": planned.gate_failed,
        "gates": [
            {
                "name": g.name,
                "phase": g.phase,
                "threshold": g.threshold,
                "observed": g.observed,
                "passed": g.passed,
                "hold": g.hold,
            }
            for g in planned.gates
        ],
        "state_file": str(planned.state_file),
        "reconciled": None
        if planned.reconciled is None
        else {
            "source": planned.reconciled.reconciled.source,
            "message": planned.reconciled.reconciled.message,
            "buckets": list(planned.reconciled.urls),
        },
        "state_written": outcome.state_written,
        "moved": [route.line() for route in outcome.moved],
        "shifts": [dataclasses.asdict(s) for s in planned.shifts],
        "shifted": [dataclasses.asdict(s) for s in outcome.shifted],
        "retired": [revision.line() for revision in outcome.retired],
        "before": to_dict(planned.transition.before),
        "after": to_dict(planned.transition.after),
        "targets": targets,
    }


def echo_release(outcome: release.ReleaseOutcome, fmt: str, *, dry_run: bool) -> None:
    """Print a release outcome (text or JSON); exit 1 when a gate failed."""
    if fmt == "json":
        echo_json(release_dict(outcome, dry_run=dry_run))
    else:
        _echo_text(outcome, dry_run=dry_run)
    if outcome.plan.gate_failed:
        sys.exit(1)


def _state_line(state: ReleaseState) -> str:
    split = ", ".join(f"{v} {p}%" for v, p in state.split) or "-"
    step = f" step {state.step_index + 1}" if state.status == "in-progress" else ""
    return f"{state.status}{step} [{split}]"


def _echo_text(outcome: release.ReleaseOutcome, *, dry_run: bool) -> None:
    planned = outcome.plan
    transition = planned.transition
    name = transition.after.name
    mode = " (dry run)" if dry_run else ""
    click.echo(f"{planned.action} {name} ({planned.environment}){mode}: {transition.message}")
    if planned.reconciled is not None:
        click.echo(f"release state: {planned.reconciled.reconciled.message}")
    for gate in planned.gates:
        mark = "✓" if gate.passed else "…" if gate.hold else "✗"
        click.echo(
            f"  {mark} {gate.phase} gate {gate.name} {gate.threshold}: observed {gate.observed}"
        )
    for shift in planned.shifts:
        click.echo(f"  {shift.line}")
    if planned.gate_failed and planned.shifts:
        click.echo("  the cloud rolled the release back on its alarms: the state records it")
    elif planned.gate_failed:
        click.echo("  a gate failed: the plan below is the rollback")
    if not transition.changed:
        click.echo("nothing to change")
    else:
        verb = "would change" if dry_run else "changes"
        click.echo(
            f"state {verb}: {_state_line(transition.before)} -> {_state_line(transition.after)}"
        )
    if planned.result is not None and transition.changed:
        for target in planned.result.targets:
            offering = target.plan.services[-1].compute.offering
            click.echo(f"{target.plan.cloud} {target.plan.region} ({offering}):")
            for kind, resource, values in traffic_inputs(target.plan.cloud, target.resources):
                click.echo(f"  {kind} {resource}")
                for key, value in values:
                    shown = json.dumps(value, sort_keys=True) if value is not None else "-"
                    click.echo(f"    {key}: {shown}")
    if outcome.deployed is not None:
        echo_result(outcome.deployed)
    for route in outcome.moved:
        click.echo(f"traffic moved: {route.line()}")
    for shift in outcome.shifted:
        click.echo(f"traffic shift: {shift.line}")
    if outcome.state_written:
        click.echo(f"release state saved to {planned.state_file}")
    elif dry_run and transition.changed:
        click.echo(f"dry run: {planned.state_file} not written, nothing deployed")
    for revision in outcome.retired:
        click.echo(f"revision: {revision.line()}")
