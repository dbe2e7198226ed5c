"""``svai build [FILE] [--target CLOUD-REGION|all] [--out DIR] [--vendor-deps]``."""

from __future__ import annotations

import click

from svai import api
from svai.cli.output import echo_json, format_option, spec_argument

__all__ = ["command"]


@click.command("build")
@spec_argument()
@click.option(
    "--target",
    default="all",
    show_default=True,
    help="Build one target, named CLOUD-REGION (e.g. aws-us-east-1), or all of them.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Build root (default: .svai/build beside the spec).",
)
@click.option(
    "--vendor-deps",
    is_flag=True,
    help="Zip targets: pip-install the requirements for manylinux2014_x86_64 into the zip "
    "(needs the package index; without it they are listed in requirements.txt only).",
)
@format_option("text", "json")
def command(file: str, target: str, out_dir: str | None, vendor_deps: bool, fmt: str) -> None:
    """Build the deployable artifact of each target of FILE (default ./svai.yaml).

    Per target, under .svai/build/NAME/MODEL_VERSION/CLOUD-REGION/: the optimised model (ONNX;
    trusted pickles converted, int8 kept only when it passes the accuracy check),
    svai_runtime.json (the spec as runtime data), the runtime code and your hook files,
    requirements.txt pinned, manifest.json (every file with its sha256), and either a
    reproducible function.zip (checked against the Lambda size limits) or a container build
    context (Dockerfile, .dockerignore). A remote artifact is not fetched: the manifest records it.
    Builds are deterministic: the same spec gives byte-identical files.
    """
    progress = None if fmt == "json" else (lambda line: click.echo(line, err=True))
    result = api.build(
        file, target=target, out_dir=out_dir, vendor_deps=vendor_deps, progress=progress
    )
    if fmt == "json":
        echo_json(
            {
                "name": result.name,
                "model_version": result.model_version,
                "model": result.optimisation,
                "targets": [
                    {
                        "target": t.target,
                        "package": t.package,
                        "offering": t.offering,
                        "directory": str(t.directory),
                        "files": len(t.files),
                        "bytes": t.total_bytes,
                        "zip_bytes": t.zip_bytes,
                        "notes": list(t.notes),
                    }
                    for t in result.targets
                ],
            }
        )
        return
    click.echo(f"{result.name} {result.model_version}")
    rows = [("target", "package", "files", "size", "zip", "folder")]
    for t in result.targets:
        zipped = _size(t.zip_bytes) if t.zip_bytes is not None else "-"
        rows.append(
            (t.target, t.package, str(len(t.files)), _size(t.total_bytes), zipped, str(t.directory))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    notes = sorted({n for t in result.targets for n in t.notes})
    for note in notes:
        click.echo(f"note: {note}")


def _size(n: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"
