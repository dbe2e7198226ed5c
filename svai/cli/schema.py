"""``svai schema``."""

from __future__ import annotations

import click

from svai.spec import render_schema

__all__ = ["command"]


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of svai.yaml (draft 2020-12), generated from svai's own model.

    Point your editor at it for completion and inline errors, e.g. with the line
    `# yaml-language-server: $schema=<path or URL>` that `svai init` writes.
    """
    click.echo(render_schema(), nl=False)
