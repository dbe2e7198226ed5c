"""The ``svai`` command: a click group whose subcommands load lazily.

Each subcommand lives in its own module (``svai plan`` → ``svai/cli/plan.py``) and is imported only
when it runs, so ``svai --help`` and ``svai validate`` never import Pulumi or a cloud SDK.

Exit codes (documented in ``svai --help`` and the README):

- 0: success;
- 1: the command ran and found problems (findings at or above ``--fail-on``, a diff with changes,
  a failed deployment, a target no offering can serve);
- 2: invalid input (a spec error, a bad option or path);
- 3: a required external tool or credential is missing (the message says what to install).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import NoReturn

import click

from svai import __version__
from svai.errors import SvaiError

__all__ = ["cli", "main"]

_COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help shown by `svai --help` without importing the module)
    "init": ("svai.cli.init", "Write a commented starter svai.yaml."),
    "validate": (
        "svai.cli.validate",
        "Check a svai.yaml and report every problem with its location.",
    ),
    "schema": ("svai.cli.schema", "Print the JSON Schema of svai.yaml."),
    "recommend": (
        "svai.cli.recommend",
        "Recommend a runtime per target, with predicted latency and cost.",
    ),
    "plan": (
        "svai.cli.plan",
        "Show the complete deployment per target, offline (no cloud account).",
    ),
    "diff": (
        "svai.cli.diff",
        "Compare two plans (specs, plan JSON or git revisions): runtime, latency, cost, resources.",
    ),
    "check": (
        "svai.cli.check",
        "Run the production-readiness checklist; text, JSON or SARIF, with --fail-on for CI.",
    ),
    "apply": ("svai.cli.apply", "Deploy with Pulumi (needs the pulumi CLI and credentials)."),
    "destroy": ("svai.cli.destroy", "Tear a deployment down with Pulumi."),
    "build": (
        "svai.cli.build",
        "Build the deployable artifact per target (zip or container context).",
    ),
    "serve": ("svai.cli.serve", "Run a built artifact locally on 127.0.0.1, as deployed."),
    "bench": (
        "svai.cli.bench",
        "Measure the built model (load time, memory, latency) for the recommender.",
    ),
    "eval": (
        "svai.cli.eval",
        "Run the eval set through the model (built artifact or --endpoint); compute the metrics.",
    ),
    "versions": ("svai.cli.versions", "List the model versions released per environment."),
    "status": (
        "svai.cli.status",
        "Show per target the versions deployed, their traffic and live latency/error signals.",
    ),
    "logs": (
        "svai.cli.logs",
        "Read a deployment's runtime logs; filter by version, request id, level, --since.",
    ),
    "drift": (
        "svai.cli.drift",
        "Compare a sample or live traffic with the drift baseline, per feature (PSI, KS).",
    ),
    "promote": (
        "svai.cli.promote",
        "Move a release to its next step (canary, blue-green) when its gates pass.",
    ),
    "rollback": (
        "svai.cli.rollback",
        "Point traffic back at the previous (or a named) model version in one step.",
    ),
    "gate": (
        "svai.cli.gate",
        "Judge the release in progress from the deployment's bucket once (the scheduled job).",
    ),
}

_EPILOG = """\b
Exit codes:
  0  success
  1  the command ran and found problems (findings, changes, a failed deployment,
     a target that cannot be served)
  2  invalid input: spec errors, bad options or paths
  3  a required tool or credential is missing (the message says what to install)
"""


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _) in _COMMANDS.items() if _available(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None or not _available(entry[0]):
            return None
        command = importlib.import_module(entry[0]).command
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.group(
    cls=_LazyGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "--version", prog_name="svai")
def cli() -> None:
    """svai: ship an AI model to serverless infrastructure from one svai.yaml.

    Write svai.yaml (model, latency target, traffic, clouds), then: `svai validate` checks it,
    `svai recommend` picks a runtime per cloud with predicted latency, cold starts and cost,
    `svai plan` shows the complete deployment offline, and `svai apply` deploys it.
    """


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI and exit; user errors print a message (no traceback) and exit with their code."""
    try:
        # Outside standalone mode click returns the code of ``ctx.exit(n)`` instead of exiting.
        code = cli.main(args=argv, prog_name="svai", standalone_mode=False)
    except SvaiError as error:
        click.echo(str(error), err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(2 if isinstance(error, click.UsageError) else error.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
