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
    runtime code runs (python -m svai.runtime.server with PYTHONPATH=the build folder) in the
    artifact's own virtualenv, made from its requirements.txt (the runtime's pins plus
    model.requirements) and cached by their hash under ~/.cache/svai (SVAI_CACHE_DIR): a hook
    importing a package the spec does not declare fails here, as it would deployed. The first
    serve of new requirements downloads their wheels once into a local wheelhouse. POST
    /predict, GET /healthz and /readyz; Ctrl-C or SIGTERM drains in-flight requests and stops.
    """
    code = api.serve(
        path, target=target, port=port, progress=lambda line: click.echo(line, err=True)
    )
    ctx.exit(code)
