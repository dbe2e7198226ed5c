"""``svai init``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from svai.errors import UsageError
from svai.spec.starter import starter_spec

__all__ = ["command"]


@click.command("init")
@click.option("--name", help="Deployment name (default: the folder name, made DNS-safe).")
@click.option(
    "--file",
    "file",
    default="svai.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the spec.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def command(name: str | None, file: Path, force: bool) -> None:
    """Write a commented starter svai.yaml (with a schema line for editor completion)."""
    if file.exists() and not force:
        raise UsageError(f"{file} already exists; pass --force to overwrite it")
    if name is None:
        folder = file.resolve().parent.name.lower()
        name = re.sub(r"[^a-z0-9-]+", "-", folder).strip("-")[:40] or "my-model"
        if not name[0].isalpha():
            name = f"m-{name}"[:40]
        if len(name) < 2:
            name = f"{name}-model"
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,38}[a-z0-9]", name):
        raise UsageError(
            f"--name {name!r}: use lowercase letters, digits and dashes, 2-40 characters"
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(starter_spec(name), encoding="utf-8")
    click.echo(f"wrote {file}; next: `svai validate {file}` then `svai recommend {file}`")
