"""``svai diff BASE HEAD [-f svai.yaml] [-- [SPEC]]``."""

from __future__ import annotations

import click

from svai import api
from svai.cli.output import echo_json, format_option
from svai.compiler.diff import diff_markdown, diff_text, to_dict
from svai.errors import UsageError

__all__ = ["command"]

_DASHES = "svai.diff.after_dashes"
"""Where ``parse_args`` notes how many arguments followed ``--`` (click keeps no trace of it)."""


class _GitStyle(click.Command):
    """A command that, like ``git diff``, reads ``--`` as "revisions before, paths after"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            ctx.meta[_DASHES] = len(args) - args.index("--") - 1
        return super().parse_args(ctx, args)


@click.command("diff", cls=_GitStyle)
@click.argument("base")
@click.argument("head")
@click.argument("paths", nargs=-1, metavar="[-- [SPEC]]")
@click.option(
    "-f",
    "--file",
    "spec_file",
    default=None,
    help="The spec to compare when BASE and HEAD are git revisions (default: the one that changed).",
)
@format_option("text", "markdown", "json")
def command(base: str, head: str, paths: tuple[str, ...], spec_file: str | None, fmt: str) -> None:
    """Show what changes between two plans: runtime, sizing, latency, cold starts, cost, resources.

    BASE and HEAD are two specs (svai.yaml files), two plan JSON files (from
    `svai plan --format json`), or two git revisions, e.g. `svai diff origin/main HEAD`. A
    revision is read from git objects only, never from the work tree: its spec folder is written
    out into a temporary folder and planned offline there. A name that is both a file and a
    revision is refused as ambiguous; put `--` after the revisions to compare them as committed
    (`svai diff origin/main HEAD -- svai.yaml`). Without -f (or a SPEC after `--`) the spec is
    the one whose folder changed between the revisions. A spec missing at one revision counts
    as an empty plan; missing at both, it is refused. Specs and revisions also show new and
    resolved readiness findings (`svai check`); plan JSON files carry none.

    Exits 0 when nothing that matters changed and 1 when something did.
    """
    after = click.get_current_context().meta.get(_DASHES)
    if after is None and paths:
        raise UsageError(f"unexpected argument {paths[0]!r}; write `svai diff BASE HEAD -- SPEC`")
    if after is not None and after > len(paths):
        raise UsageError("put `--` after both revisions: `svai diff BASE HEAD -- [SPEC]`")
    if len(paths) > 1 or (paths and spec_file):
        raise UsageError("name one spec: after `--` or with -f, not both")
    spec = spec_file or (paths[0] if paths else None)
    comparison = api.diff(base, head, spec=spec, revisions=after is not None)
    if comparison.found:
        click.echo(f"svai diff: comparing {comparison.found} (name another with -f)", err=True)
    diff = comparison.diff
    if fmt == "json":
        echo_json(to_dict(diff))
    elif fmt == "markdown":
        click.echo(diff_markdown(diff), nl=False)
    else:
        click.echo(diff_text(diff), nl=False)
    if diff.changed:
        raise click.exceptions.Exit(1)
