"""``svai drift [FILE] (--sample FILE | --window 1h [--version V]) [--format json]``.

Compares the request features (and the prediction) of a sample file, or of the deployment's live
summaries, with the baseline of ``observability.drift``, feature by feature, with PSI and KS.
Exit codes: 0 no drift; 1 drift flagged in at least one feature; 2 invalid spec, option or
file; 3 a live target's cloud has no credentials.
"""

from __future__ import annotations

import click

from svai import api
from svai.cli.output import echo_json, format_option, spec_argument
from svai.cli.window import window_seconds

__all__ = ["command"]


@click.command("drift")
@spec_argument()
@click.option(
    "--sample",
    metavar="FILE",
    default=None,
    help="A JSON Lines file of request bodies (or eval lines) to judge, instead of live traffic.",
)
@click.option("--window", default="1h", show_default=True, help="Live: how far back to read.")
@click.option("--version", default=None, help="Live: the model version (default: the spec's).")
@format_option("text", "json")
def command(file: str, sample: str | None, window: str, version: str | None, fmt: str) -> None:
    """Judge drift of FILE's features against observability.drift.baseline, with PSI and KS.

    With --sample, the file's values are compared exactly (KS over the raw values). Without it,
    the runtime's drift summaries of the version are read from every target's logs over
    --window and added up (KS read at the baseline's bin edges). A feature whose PSI or KS is
    above its threshold is flagged. Exit code 1 when any feature is flagged.
    """
    seconds = None if sample is not None else window_seconds(window, "--window")
    judged, report = api.drift(file, sample=sample, window_s=seconds, version=version)
    if fmt == "json":
        echo_json(report.as_evidence(judged))
    else:
        click.echo(f"drift of {report.source}: {report.samples} samples, score {report.score:g}")
        click.echo(
            f"  {'feature':<28} {'n':>7} {'mean':>12} {'base mean':>12} {'PSI':>9} {'KS':>9}"
        )
        for f in report.features:
            mean = "-" if f.mean is None else f"{f.mean:.4g}"
            base = "-" if f.baseline_mean is None else f"{f.baseline_mean:.4g}"
            ks = "-" if f.ks is None else f"{f.ks:.4f}"
            mark = "  DRIFT" if f.flagged else ""
            click.echo(
                f"  {f.name:<28} {f.count:>7} {mean:>12} {base:>12} {f.psi:>9.4f} {ks:>9}{mark}"
            )
        verdict = f"drift in {', '.join(report.flagged)}" if report.flagged else "no drift"
        click.echo(f"{verdict} (a feature drifts when its PSI or KS is above its threshold)")
    if report.flagged:
        raise click.exceptions.Exit(1)
