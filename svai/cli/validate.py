"""``svai validate [FILE]``."""

from __future__ import annotations

import click

from svai.cli.output import echo_json, format_option, spec_argument
from svai.errors import SpecError
from svai.spec import load_spec

__all__ = ["command"]


@click.command("validate")
@spec_argument()
@format_option("text", "json")
def command(file: str, fmt: str) -> None:
    """Check FILE (default ./svai.yaml) and report every problem as file:line:col.

    Exits 0 when the spec is valid and 2 when it is not. With --format json, prints
    {"valid", "file", "diagnostics": [{code, severity, file, line, col, path, message, hint}]}.
    """
    try:
        spec = load_spec(file)
    except SpecError as error:
        if fmt == "json":
            echo_json(
                {
                    "valid": False,
                    "file": file,
                    "diagnostics": [d.to_dict() for d in error.diagnostics],
                }
            )
            raise click.exceptions.Exit(2) from None
        count = len(error.diagnostics)
        click.echo(str(error), err=True)
        click.echo(f"{file}: {count} problem{'s' if count != 1 else ''}", err=True)
        raise click.exceptions.Exit(2) from None
    if fmt == "json":
        echo_json({"valid": True, "file": file, "diagnostics": []})
    else:
        clouds = ", ".join(f"{t.cloud} {t.region}" for t in spec.targets)
        click.echo(f"{file}: valid ({spec.name}; targets: {clouds})")
