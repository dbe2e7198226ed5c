"""``svai apply`` / ``destroy`` / ``plan --preview``: a thin façade over the Pulumi Automation API.

One stack per spec and environment (project ``svai-<spec name>``, stack ``<environment>``) runs
an inline program that builds every plan of the spec with its cloud's backend. State lives in a
local file backend by default (``<work_dir>/.svai/state``: no Pulumi Cloud account needed; any
backend URL may be given) and secrets are encrypted with a passphrase, which must be set in
``PULUMI_CONFIG_PASSPHRASE`` (or ``PULUMI_CONFIG_PASSPHRASE_FILE``).

Before anything starts, the ``pulumi`` CLI, the passphrase and each cloud's credentials are
checked, and a missing one raises :class:`~svai.errors.ToolMissingError` saying exactly what to
install or set. Outputs (endpoint URLs, queue URLs) are returned and saved as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from svai.backends import registry
from svai.backends.base import Backend
from svai.errors import DeployError, ToolMissingError, UsageError
from svai.ir import DeploymentPlan

__all__ = [
    "INSTALL_PULUMI",
    "Result",
    "check_credentials",
    "check_passphrase",
    "check_pulumi",
    "destroy",
    "preview",
    "up",
]

INSTALL_PULUMI = (
    "the `pulumi` CLI is not on PATH. Install it with\n"
    "    curl -fsSL https://get.pulumi.com | sh\n"
    "(macOS: `brew install pulumi/tap/pulumi`; Windows: `winget install pulumi`; "
    "all options: https://www.pulumi.com/docs/iac/download-install/), then open a new shell. "
    "`svai plan` works without it."
)
"""What :func:`check_pulumi` tells a user who has no ``pulumi`` binary."""

Operation = Literal["preview", "up", "destroy"]


@dataclass(frozen=True, slots=True)
class Result:
    """What one Automation API operation did.

    Attributes:
        operation: ``preview``, ``up`` or ``destroy``.
        stack: Fully qualified stack (``svai-<name>/<environment>``).
        outputs: Stack outputs (secrets shown as ``[secret]``), empty for a preview.
        changes: Resource changes by kind (``create``, ``update``, ``same``, ...).
        outputs_file: Where the outputs were saved (``None`` for a preview).
    """

    operation: Operation
    stack: str
    outputs: Mapping[str, Any]
    changes: Mapping[str, int]
    outputs_file: Path | None


def check_pulumi(path: str | None = None) -> str:
    """Return the ``pulumi`` binary's path.

    Args:
        path: The search path (``PATH`` when ``None``).

    Raises:
        ToolMissingError: It is not installed; the message gives the install command.
    """
    binary = shutil.which("pulumi", path=path)
    if binary is None:
        raise ToolMissingError(INSTALL_PULUMI)
    return binary


def check_passphrase(env: Mapping[str, str] | None = None) -> None:
    """Require the passphrase that encrypts the stack's secrets.

    Raises:
        ToolMissingError: Neither ``PULUMI_CONFIG_PASSPHRASE`` nor
            ``PULUMI_CONFIG_PASSPHRASE_FILE`` is set.
    """
    env = os.environ if env is None else env
    if not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        raise ToolMissingError(
            "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the passphrase "
            "that encrypts this stack's secrets, e.g. `export PULUMI_CONFIG_PASSPHRASE=...`; "
            "keep it: the same passphrase is needed for every later apply and destroy"
        )


def check_credentials(
    cloud: str, env: Mapping[str, str] | None = None, home: Path | None = None
) -> None:
    """Require credentials for ``cloud`` from the environment or the CLI's config files.

    Only their presence is checked (offline); the cloud judges whether they are valid.

    Args:
        cloud: A cloud in :data:`svai.spec.clouds.CLOUDS`.
        env: Environment to read (``os.environ`` when ``None``).
        home: Home directory holding the cloud CLIs' configuration (``~/.aws`` ...).

    Raises:
        ToolMissingError: No credentials were found; the message says what to set.
        UsageError: ``cloud`` is unknown.
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    known = registry.cloud(cloud)
    if not known.credentials(env, home):
        raise ToolMissingError(known.missing_credentials)


def preview(
    plans: DeploymentPlan | Sequence[DeploymentPlan],
    *,
    stack: str,
    backend_url: str | None = None,
    work_dir: Path | str = ".",
    backends: Mapping[str, Backend] | None = None,
) -> Result:
    """Run a real ``pulumi preview`` of ``plans`` (needs the CLI and credentials)."""
    return _run(
        "preview",
        plans,
        stack=stack,
        backend_url=backend_url,
        work_dir=Path(work_dir),
        backends=backends,
    )


def up(
    plans: DeploymentPlan | Sequence[DeploymentPlan],
    *,
    stack: str,
    backend_url: str | None = None,
    work_dir: Path | str = ".",
    backends: Mapping[str, Backend] | None = None,
) -> Result:
    """Deploy ``plans`` (``pulumi up``) and save the outputs to ``.svai/outputs/<stack>.json``.

    ``backends`` replaces the registry's backend of a cloud (e.g. an AWS backend that knows the
    Lambda version numbers of a release in progress).
    """
    return _run(
        "up",
        plans,
        stack=stack,
        backend_url=backend_url,
        work_dir=Path(work_dir),
        backends=backends,
    )


def destroy(
    plans: DeploymentPlan | Sequence[DeploymentPlan],
    *,
    stack: str,
    backend_url: str | None = None,
    work_dir: Path | str = ".",
) -> Result:
    """Delete every resource of the stack of ``plans`` (``pulumi destroy``)."""
    return _run("destroy", plans, stack=stack, backend_url=backend_url, work_dir=Path(work_dir))


def _run(
    operation: Operation,
    plans: DeploymentPlan | Sequence[DeploymentPlan],
    *,
    stack: str,
    backend_url: str | None,
    work_dir: Path,
    backends: Mapping[str, Backend] | None = None,
) -> Result:
    items = (plans,) if isinstance(plans, DeploymentPlan) else tuple(plans)
    if not items:
        raise UsageError("nothing to deploy: no plans given")
    names = {p.name for p in items}
    if len(names) != 1:
        raise UsageError(f"one stack holds one spec; got plans of {sorted(names)}")
    check_pulumi()
    check_passphrase()
    for cloud in sorted({p.cloud for p in items}):
        check_credentials(cloud)

    from pulumi import automation as auto  # the CLI is present: only now pay for the import

    chosen: dict[str, Backend] = {
        p.cloud: (backends or {}).get(p.cloud) or registry.get_backend(p.cloud) for p in items
    }
    state_dir = work_dir / ".svai" / "state"
    if backend_url is None:
        state_dir.mkdir(parents=True, exist_ok=True)
        backend_url = state_dir.resolve().as_uri()
    project = f"svai-{items[0].name}"
    program = _program(items, chosen)
    options = auto.LocalWorkspaceOptions(
        project_settings=auto.ProjectSettings(
            name=project, runtime="python", backend=auto.ProjectBackend(url=backend_url)
        ),
        secrets_provider="passphrase",
        env_vars={"PULUMI_SKIP_UPDATE_CHECK": "true"},
    )
    try:
        pulumi_stack = auto.create_or_select_stack(
            stack_name=stack, project_name=project, program=program, opts=options
        )
        for plugin, version in sorted(_plugins(items).items()):
            pulumi_stack.workspace.install_plugin(plugin, f"v{version}")
        for plan in items:
            pulumi_stack.set_config(
                registry.cloud(plan.cloud).region_key, auto.ConfigValue(plan.region)
            )
        if operation == "preview":
            previewed = pulumi_stack.preview()
            return Result(
                "preview",
                f"{project}/{stack}",
                {},
                {str(k): int(v) for k, v in (previewed.change_summary or {}).items()},
                None,
            )
        if operation == "up":
            result = pulumi_stack.up()
            outputs = {k: "[secret]" if v.secret else v.value for k, v in result.outputs.items()}
            summary = result.summary.resource_changes or {}
            # Steps Pulumi cannot express (e.g. deploying a model on a Vertex endpoint) run
            # once the resources they need exist; what they produce joins the outputs.
            for plan in items:
                after_up = registry.cloud(plan.cloud).after_up
                if after_up is not None:
                    done = after_up(chosen[plan.cloud], plan)
                    if done:
                        outputs[f"{plan.cloud}_{plan.region}_after_up"] = done
        else:
            destroyed = pulumi_stack.destroy()
            outputs = {}
            summary = destroyed.summary.resource_changes or {}
    except auto.errors.CommandError as exc:
        raise DeployError(f"pulumi {operation} failed for {project}/{stack}:\n{exc}") from exc
    outputs_file = work_dir / ".svai" / "outputs" / f"{project}-{stack}.json"
    outputs_file.parent.mkdir(parents=True, exist_ok=True)
    outputs_file.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    return Result(
        operation,
        f"{project}/{stack}",
        outputs,
        {str(k): int(v) for k, v in summary.items()},
        outputs_file,
    )


def _plugins(plans: Sequence[DeploymentPlan]) -> dict[str, str]:
    """Provider plugin name -> version of the installed SDK, for every cloud of ``plans``."""
    import importlib.util

    plugins: dict[str, str] = {}
    for sdk in sorted({registry.cloud(p.cloud).sdk for p in plans}):
        spec = importlib.util.find_spec(sdk)
        if spec is None or spec.origin is None:
            continue
        manifest = json.loads(Path(spec.origin).with_name("pulumi-plugin.json").read_text())
        plugins[str(manifest["name"])] = str(manifest["version"])
    return plugins


def _program(
    plans: Sequence[DeploymentPlan], backends: Mapping[str, Backend]
) -> Callable[[], None]:
    def program() -> None:
        for plan in plans:
            backends[plan.cloud].program(plan)

    return program
