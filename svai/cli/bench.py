"""``svai bench [FILE] [--payload FILE.json] [--requests N]``."""

from __future__ import annotations

import dataclasses

import click

from svai import api
from svai.cli.output import echo_json, format_option, spec_argument

__all__ = ["command"]


@click.command("bench")
@spec_argument()
@click.option(
    "--payload",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="JSON request body (or a list of them); default: the spec's eval set.",
)
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--target", default=None, help="Which target's build to measure (default: first).")
@format_option("text", "json")
def command(file: str, payload: str | None, requests: int, target: str | None, fmt: str) -> None:
    """Measure the built model of FILE locally and save the figures for the recommender.

    In a fresh process running the artifact's own runtime code: load time (process start until
    ready), the cold-start components the runtime logs (imports, device, weights, warm-up), peak
    memory, latency p50/p95/p99 over N warm requests, and the artifact size. They are saved to
    .svai/measurements.json with the model version; `svai recommend` and `svai plan` then use
    them instead of declared or estimated figures, while the version matches.
    """
    progress = None if fmt == "json" else (lambda line: click.echo(line, err=True))
    result = api.bench(file, payload=payload, requests=requests, target=target, progress=progress)
    if fmt == "json":
        echo_json(dataclasses.asdict(result))
        return
    click.echo(f"{result.target} {result.model_version}: {result.requests} requests")
    click.echo(f"  load time  {result.load_time_s * 1000:,.0f} ms (process start to ready)")
    click.echo(
        f"  latency    p50 {result.p50_s * 1000:,.2f} ms  p95 {result.p95_s * 1000:,.2f} ms  "
        f"p99 {result.p99_s * 1000:,.2f} ms"
    )
    if result.cold_start:
        parts = " + ".join(f"{name} {s * 1000:,.0f} ms" for name, s in result.cold_start.items())
        click.echo(f"  cold start {parts} (as the runtime logged them)")
    click.echo(f"  memory     {result.memory_bytes / 1e6:,.1f} MB peak RSS")
    click.echo(
        f"  size       model {result.artifact_bytes / 1e6:,.2f} MB, "
        f"package {result.package_bytes / 1e6:,.2f} MB"
    )
    click.echo("saved to .svai/measurements.json; svai recommend now uses these figures")
