"""``svai recommend [FILE]``."""

from __future__ import annotations

import click

from svai import api
from svai.cli.output import echo_json, format_option, spec_argument
from svai.compiler.recommendation import to_dict
from svai.compiler.report import recommendation_text

__all__ = ["command"]


@click.command("recommend")
@spec_argument()
@format_option("text", "json")
def command(file: str, fmt: str) -> None:
    """Recommend a runtime for each target of FILE (default ./svai.yaml), with the numbers.

    Per target: the chosen offering (function, serverless container or managed endpoint), its
    sizing and warm pool, predicted p50/p95/p99 latency, cold-start rate, monthly cost and cost
    per 1,000 predictions, the assumptions behind them, and every alternative with the reason it
    lost. --format json prints the same as a stable contract for tools.

    A target no offering can serve is named with every reason and what would help; the others
    are recommended in full, and the command exits 1.
    """
    loaded, recommendation = api.recommend(file)
    if fmt == "json":
        echo_json(to_dict(recommendation))
    else:
        click.echo(recommendation_text(loaded.resolved, recommendation), nl=False)
    if recommendation.infeasible:
        raise click.exceptions.Exit(1)
