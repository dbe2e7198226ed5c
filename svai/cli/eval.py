"""``svai eval [FILE] [--target CLOUD-REGION] [--endpoint URL] [--header NAME:VALUE]``."""

from __future__ import annotations

import dataclasses

import click

from svai import api
from svai.cli.output import echo_json, format_option, spec_argument
from svai.errors import UsageError

__all__ = ["command"]


@click.command("eval")
@spec_argument()
@click.option("--target", default=None, help="Which target's build answers (default: first).")
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="A deployed prediction URL to ask instead of the local build (e.g. https://.../predict;"
    " for text generation the service's base URL, or one of its /v1 completion routes).",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="A header for --endpoint requests (e.g. 'Authorization: Bearer ...'); repeatable.",
)
@format_option("text", "json")
def command(
    file: str, target: str | None, endpoint: str | None, headers: tuple[str, ...], fmt: str
) -> None:
    """Run FILE's eval set through the model and compute the gate's metrics.

    Each line of rollout.gates.eval_set ({"input": <request body>, "expected": <answer>}) is
    sent to the built artifact's own HTTP server on 127.0.0.1 (built first if needed), or to
    --endpoint; a text-generation model's lines are OpenAI requests, sent to
    /v1/chat/completions or /v1/completions, and the answer is the generated text. The answer at rollout.gates.prediction (or the label a score and threshold make)
    is compared with "expected": accuracy, precision, recall and F1 for labels (plus ROC AUC
    with a score), MAE and RMSE for numbers, cosine similarity for embeddings, exact match or
    your scorer for generated text. The result is saved to .svai/eval.json with the model
    version; `svai promote` uses it as gate evidence. Exit code 1 when the gate fails or there
    are fewer eval lines than rollout.gates.min_samples.
    """
    parsed: dict[str, str] = {}
    for header in headers:
        key, sep, text = header.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"--header {header!r}: expected NAME:VALUE")
        parsed[key.strip()] = text.strip()
    if parsed and endpoint is None:
        raise UsageError("--header goes with --endpoint")
    progress = None if fmt == "json" else (lambda line: click.echo(line, err=True))
    result = api.run_eval(
        file, target=target, endpoint=endpoint, headers=parsed or None, progress=progress
    )
    if fmt == "json":
        echo_json(dataclasses.asdict(result))
    else:
        click.echo(f"{result.model_version} on {result.eval_set}: {result.samples} samples "
                   f"({result.source})")  # fmt: skip
        for name, value in result.metrics.items():
            flag = "  <- gate" if name == result.metric else ""
            click.echo(f"  {name:<12} {value:.4f}{flag}")
        if result.fallbacks:
            click.echo(f"  {result.fallbacks} answers came from the fallback, not the model")
        click.echo(f"  latency p95 {result.p95_s * 1000:,.1f} ms (client side)")
        if result.gate is not None:
            verdict = "passes" if result.gate.passed else "holds" if result.gate.hold else "fails"
            click.echo(
                f"gate {result.gate.name} {result.gate.observed} (needs {result.gate.threshold}): "
                f"{verdict}"
            )
        click.echo("saved to .svai/eval.json; svai promote uses it as evidence")
    if result.gate is not None and not result.gate.passed:
        raise click.exceptions.Exit(1)
