"""``svai status [FILE]``: per target, the versions deployed, their traffic and live signals.

The versions and their split come from the release state (as ``svai versions`` shows them); the
signals of each version are read from the target's cloud over ``--window`` (:mod:`svai.signals`).
Without the cloud's credentials it exits 3 and names what to set. Each target's cost this month
comes from its cloud's billing API (:mod:`svai.signals.cost`), against
``observability.budget_usd_month``; a cloud whose billing cannot be read shows it unavailable.
An async target also shows its oldest queued job's age over the window. Where a cloud shifts a
release's traffic by itself (CodeDeploy), the state of that deployment is shown too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from svai import api, release, signals
from svai.cli.output import echo_json, format_option, spec_argument
from svai.cli.window import window_seconds
from svai.signals.cost import cost_to_date

__all__ = ["command", "status_dict"]


@click.command("status")
@spec_argument()
@click.option("--env", "environment", default="dev", show_default=True, help="Environment.")
@click.option(
    "--window", default="15m", show_default=True, help="How far back the signals are read."
)
@format_option("text", "json")
def command(file: str, environment: str, window: str, fmt: str) -> None:
    """Show what runs where, per target, with live signals.

    For each deployed version: its traffic share, and over the window its p95/p99 latency,
    error rate and cold-start rate, read from the target's cloud; and the target's cost this
    month against the budget.
    """
    data = status_dict(file, environment, window_seconds(window))
    if fmt == "json":
        echo_json(data)
        return
    click.echo(
        f"{data['name']} ({data['environment']}): {data['status']}, "
        f"signals over the last {data['window_s']}s"
    )
    if not data["targets"] or not any(t["versions"] for t in data["targets"]):
        click.echo("  nothing deployed")
    for target in data["targets"]:
        click.echo(f"  {target['cloud']} {target['region']} ({target['offering']}):")
        for row in target["versions"]:
            click.echo(f"    {row['version']} {row['percent']}%: {_figures(row['signals'])}")
        if "queue_age_s" in target:
            age = target["queue_age_s"]
            click.echo(f"    oldest queued job: {'-' if age is None else f'{age:g}s'}")
        click.echo(f"    cost since {target['cost']['since']}: {_cost(target['cost'])}")
    for shift in data["shifts"]:
        click.echo(f"  {shift['line']}")


def status_dict(file: str, environment: str, window_s: int) -> dict[str, Any]:
    """The status as JSON-ready data (``svai status --format json``).

    Raises:
        svai.errors.ToolMissingError: a target's cloud has no credentials.
        svai.errors.DeployError: a cloud failed a query.
    """
    report = release.versions(file, environment=environment)
    loaded, recommendation = api.recommend(file)
    budget = loaded.resolved.observability.budget_usd_month
    queued = {(t.cloud, t.region) for t in recommendation.targets if t.choice.mode == "async"}
    window = signals.window_ending(window_s)
    targets = []
    for cloud, region, offering, how in report.targets:
        rows = []
        for version, percent in report.state.split:
            read = signals.read(signals.Source(cloud, region, report.name, version), window)
            rows.append({"version": version, "percent": percent, "signals": read.as_dict()})
        target: dict[str, Any] = {
            "cloud": cloud,
            "region": region,
            "offering": offering,
            "traffic": how,
            "versions": rows,
            "cost": cost_to_date(cloud, region, report.name).as_dict(budget),
        }
        if (cloud, region) in queued:  # the oldest job's age over the window
            target["queue_age_s"] = signals.queue_age(cloud, region, report.name, window)
        targets.append(target)
    return {
        "name": report.name,
        "environment": report.environment,
        "status": report.state.status,
        "window_s": window_s,
        "targets": targets,
        "shifts": [dataclasses.asdict(s) for s in release.shifts(file, environment=environment)],
    }


def _cost(cost: dict[str, Any]) -> str:
    """``12.34 USD of the 500 USD budget (2.5%)``, or ``unavailable: <why>``."""
    if cost["amount"] is None:
        return f"unavailable: {cost['note']}"
    text = f"{cost['amount']:,.2f} {cost['currency']}"
    if cost["budget_usd_month"] is not None:
        text += f" of the {cost['budget_usd_month']:,.2f} USD monthly budget"
        if cost["budget_share"] is not None:
            text += f" ({cost['budget_share'] * 100:.1f}%)"
    return text + (f" ({cost['note']})" if cost["note"] else "")


def _figures(read: dict[str, Any]) -> str:
    """``120 requests, p95 0.05s, p99 0.08s, errors 0.8%, cold starts 1.7%`` (``-``: unknown)."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:g}s"

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2g}%"

    return (
        f"{read['requests']} requests, p95 {seconds(read['p95_s'])}, "
        f"p99 {seconds(read['p99_s'])}, errors {share(read['error_rate'])}, "
        f"cold starts {share(read['cold_start_rate'])}"
    )
