"""``svai logs [FILE]``: the runtime's log lines of a deployment, read from each target's cloud.

CloudWatch Logs on AWS, Cloud Logging on GCP, Azure Monitor Logs on Azure
(:mod:`svai.signals.logs`); filtered by model version, request id and level, over ``--since``.
Without the cloud's credentials it exits 3 and names what to set.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from svai import api, signals
from svai.cli.output import echo_json, format_option, spec_argument
from svai.cli.window import window_seconds
from svai.signals.logs import LEVELS, LogQuery, read_logs

__all__ = ["command"]


@click.command("logs")
@spec_argument()
@click.option("--since", default="1h", show_default=True, help="How far back to read.")
@click.option("--version", "version", help="Only this model version's lines.")
@click.option("--request-id", help="Only this request's lines.")
@click.option(
    "--level", type=click.Choice(LEVELS, case_sensitive=False), help="This severity or above."
)
@click.option("--target", help="Only this target (cloud-region, e.g. aws-us-east-1).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10_000))
@format_option("text", "json")
def command(
    file: str,
    since: str,
    version: str | None,
    request_id: str | None,
    level: str | None,
    target: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Print the runtime's log lines of FILE's deployment, oldest first, per target."""
    loaded, recommendation = api.recommend(file)
    window = signals.window_ending(window_seconds(since, "--since"))
    served = [(t.cloud, t.region) for _, t in api.served(loaded.resolved, recommendation)]
    chosen = [(c, r) for c, r in served if target in (None, f"{c}-{r}")]
    if not chosen:
        names = ", ".join(f"{c}-{r}" for c, r in served)
        raise click.UsageError(f"--target {target}: not one of {names}")
    results = []
    for cloud, region in chosen:
        query = LogQuery(
            cloud, region, loaded.resolved.name, window, version, request_id,
            None if level is None else level.upper(), limit,
        )  # fmt: skip
        results.append((cloud, region, read_logs(query)))
    if fmt == "json":
        echo_json(
            [
                {"cloud": c, "region": r, "lines": [line.as_dict() for line in lines]}
                for c, r, lines in results
            ]
        )
        return
    for cloud, region, lines in results:
        click.echo(f"{cloud} {region}: {len(lines)} line(s)")
        for line in lines:
            stamp = datetime.fromtimestamp(line.timestamp_ms / 1000, UTC).isoformat(
                timespec="milliseconds"
            )
            who = " ".join(x for x in (line.version, line.request_id) if x)
            detail = _detail(line.fields)
            click.echo(f"  {stamp} {line.level:<8} {who} {line.message}{detail}".rstrip())


def _detail(fields: dict[str, object]) -> str:
    """The few fields worth a glance on one line: status, latency, cold start, error."""
    shown = [
        f"{k}={fields[k]}" for k in ("status", "latency_ms", "cold_start", "error") if k in fields
    ]
    return " " + " ".join(shown) if shown else ""
