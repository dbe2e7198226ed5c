"""``svai serve [FILE|BUILD_DIR] [--target CLOUD-REGION] [--port N]``."""

from __future__ import annotations

import click

from svai import api

__all__ = ["command"]


@click.command("serve")
@click.argument("path", type=click.Path(path_type=str), default="svai.yaml", required=False)
@click.option("--target", default=None, help="Which target's build to run (default: the first).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.pass_context
def command(ctx: click.Context, path: str, target: str | None, port: int) -> None:
    """Run the built artifact of PATH locally on 127.0.0.1, exactly as deployed.

    PATH is a spec (default ./svai.yaml; built first when needed) or a build folder. The copied
    runtime code runs (python -m svai.runtime.server with PYTHONPATH=the build folder), so what
    you try here is what ships: POST /predict, GET /healthz and /readyz. Ctrl-C or SIGTERM drains
    in-flight requests and stops.
    """
    code = api.serve(
        path, target=target, port=port, progress=lambda line: click.echo(line, err=True)
    )
    ctx.exit(code)
