"""``svai diff BASE HEAD [-f svai.yaml]``."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import click

from svai import api
from svai.cli.output import echo_json, format_option
from svai.compiler.diff import EMPTY_PLAN, diff_markdown, diff_plans, diff_text, to_dict
from svai.compiler.planned import to_dict as plan_dict
from svai.compiler.readiness import check as check_report
from svai.compiler.readiness import to_dict as report_dict
from svai.errors import ToolMissingError, UsageError

__all__ = ["command", "plan_at_revision", "read_side"]


@click.command("diff")
@click.argument("base")
@click.argument("head")
@click.option(
    "-f",
    "--file",
    "spec_file",
    default="svai.yaml",
    show_default=True,
    help="The spec to compare when BASE and HEAD are git revisions.",
)
@format_option("text", "markdown", "json")
def command(base: str, head: str, spec_file: str, fmt: str) -> None:
    """Show what changes between two plans: runtime, sizing, latency, cold starts, cost, resources.

    BASE and HEAD are two specs (svai.yaml files), two plan JSON files (from
    `svai plan --format json`), or two git revisions of the spec named by -f, e.g.
    `svai diff origin/main HEAD -f svai.yaml`: each revision's spec folder is read with
    `git archive` into a temporary folder and planned offline there, so hooks, schemas and
    templates count towards the model version exactly as at that revision. A spec missing at a
    revision counts as an empty plan (every target added or removed). Specs and revisions also
    show new and resolved readiness findings (`svai check`); plan JSON files carry none.

    Exits 0 when nothing that matters changed and 1 when something did.
    """
    with tempfile.TemporaryDirectory(prefix="svai-diff-") as tmp:
        before = read_side(base, spec_file, Path(tmp) / "base")
        after = read_side(head, spec_file, Path(tmp) / "head")
    diff = diff_plans(before, after)
    if fmt == "json":
        echo_json(to_dict(diff))
    elif fmt == "markdown":
        click.echo(diff_markdown(diff), nl=False)
    else:
        click.echo(diff_text(diff), nl=False)
    if diff.changed:
        raise click.exceptions.Exit(1)


def read_side(ref: str, spec_file: str, workdir: Path) -> dict[str, Any]:
    """Return the plan document of one side: a plan JSON file, a spec file, or a git revision."""
    path = Path(ref)
    if path.is_file():
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UsageError(f"{ref}: not a plan JSON file ({exc})") from None
            if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
                raise UsageError(f"{ref}: not the JSON of `svai plan --format json`")
            return data
        return _plan_document(path)
    return plan_at_revision(ref, spec_file, workdir)


def _plan_document(path: Path) -> dict[str, Any]:
    """Plan the spec at ``path``: the plan JSON plus its readiness findings (``readiness``)."""
    loaded, result = api.plan(path)
    document = plan_dict(result)
    report = check_report(loaded.resolved, result)
    document["readiness"] = [
        f for f in report_dict(report)["findings"] if f["rule"].startswith("SVAI_READY_")
    ]
    return document


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise ToolMissingError("svai diff of git revisions needs git on PATH") from None


def plan_at_revision(rev: str, spec_file: str, workdir: Path) -> dict[str, Any]:
    """Plan ``spec_file`` as it is at git revision ``rev``; an empty plan where it is absent.

    The spec's whole folder at ``rev`` is extracted into ``workdir`` (every path a spec may
    reference lies inside it: paths that climb out are refused by the loader).

    Raises:
        UsageError: not inside a git repository, or ``rev`` is not a revision.
    """
    spec = Path(spec_file).absolute()
    cwd = next(p for p in (spec.parent, *spec.parents) if p.is_dir())
    top_run = _git(["rev-parse", "--show-toplevel"], cwd)
    if top_run.returncode != 0:
        raise UsageError(
            f"{rev!r} is neither a file nor usable as a git revision: {cwd} is not in a git "
            "repository"
        )
    top = Path(top_run.stdout.decode().strip()).resolve()
    try:
        relative = spec.resolve().relative_to(top)
    except ValueError:
        raise UsageError(f"{spec_file} is outside the git repository at {top}") from None
    if _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).returncode != 0:
        raise UsageError(f"{rev!r} is neither a file nor a git revision")
    if _git(["cat-file", "-e", f"{rev}:{relative.as_posix()}"], top).returncode != 0:
        return dict(EMPTY_PLAN)
    folder = relative.parent.as_posix()
    archive = _git(["archive", "--format=tar", rev, "--", folder], top)
    if archive.returncode != 0:
        raise UsageError(f"git archive {rev} {folder} failed: {archive.stderr.decode().strip()}")
    workdir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(workdir, filter="data")
    return _plan_document(workdir / relative)
