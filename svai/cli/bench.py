"""``svai bench [FILE] [--payload FILE.json] [--requests N] [--token-requests N]``."""

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
@click.option(
    "--token-requests",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="Streamed chat completions timed for TTFT and time per token (text generation).",
)
@click.option("--target", default=None, help="Which target's build to measure (default: first).")
@format_option("text", "json")
def command(
    file: str, payload: str | None, requests: int, token_requests: int, target: str | None,
    fmt: str,
) -> None:  # fmt: skip
    """Measure the built model of FILE locally and save the figures for the recommender.

    In a fresh process running the artifact's own runtime code: load time (process start until
    ready), the cold-start components the runtime logs (imports, device, weights, warm-up), peak
    memory, latency p50/p95/p99 over N warm requests, and the artifact size. A text-generation
    model is then served by the runtime's HTTP server in that process: after a warm-up, streamed
    POST /v1/chat/completions requests with a prompt of the spec's traffic.tokens.prompt give
    the warm time to first token (median, p95 from 20 requests) and time per output token
    (median). They are saved to .svai/measurements.json with the model version and the hardware
    (the GPU the engine used); `svai recommend` and `svai plan` then use them instead of
    declared, estimated or catalogued figures while the version matches, token timings and
    cold-start components only on sizes with the same GPUs: measured on CPU, they replace no
    GPU figure, and both commands say so.
    """
    progress = None if fmt == "json" else (lambda line: click.echo(line, err=True))
    result = api.bench(
        file, payload=payload, requests=requests, token_requests=token_requests, target=target,
        progress=progress,
    )  # fmt: skip
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
    if result.tokens is not None:
        t = result.tokens
        p95 = f", p95 {t.ttft_p95_s * 1000:,.1f} ms" if t.ttft_p95_s is not None else ""
        click.echo(
            f"  tokens     TTFT {t.ttft_s * 1000:,.1f} ms (median{p95}) at {t.prompt_tokens:,} "
            f"prompt tokens · {t.tpot_s * 1000:,.2f} ms/token = {1 / t.tpot_s:,.1f} tokens/s "
            f"({t.requests} streamed requests, {t.output_tokens:,} output tokens each, median)"
        )
    if result.tokens_note:
        click.echo(f"  note       {result.tokens_note}")
    click.echo(f"  memory     {result.memory_bytes / 1e6:,.1f} MB peak RSS")
    click.echo(
        f"  size       model {result.artifact_bytes / 1e6:,.2f} MB, "
        f"package {result.package_bytes / 1e6:,.2f} MB"
    )
    click.echo("saved to .svai/measurements.json; svai recommend now uses these figures")
