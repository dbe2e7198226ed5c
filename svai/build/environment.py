"""The Python environment a built artifact runs in locally: its own requirements, nothing else.

``svai serve`` (and ``svai eval``) must run what ships. The host's virtualenv has svai, the
training libraries and whatever else is installed, so a hook that imports an undeclared package
would work locally and fail deployed. Instead each artifact runs in a virtualenv made from its
own ``requirements.txt``:

* environments are cached by the hash of the requirements and the interpreter
  (``<cache>/envs/<hash>``), so a second serve of the same requirements starts at once;
* packages come from a local wheelhouse (``<cache>/wheels``): ``pip download`` fills it once from
  the package index, then every environment installs with ``--no-index`` from it;
* an environment is built in a scratch folder and renamed into place only when complete, so an
  interrupted build is never reused.

The cache lives in ``$SVAI_CACHE_DIR`` (default ``~/.cache/svai``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Callable
from pathlib import Path

from svai.build.artifact import REQUIREMENTS_NAME
from svai.build.cache import cache_dir, wheelhouse
from svai.build.target import SERVER_PACKAGES
from svai.errors import ToolMissingError, UsageError

__all__ = ["cache_dir", "runtime_python"]  # cache_dir: kept importable from here

_READY = ".svai-ready"


def runtime_python(build_dir: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Return the interpreter of the artifact's own environment, creating it when missing.

    Raises:
        UsageError: the build has no requirements file, or pip cannot install them.
        ToolMissingError: the packages are neither in the wheelhouse nor reachable.
    """
    say = progress or (lambda _line: None)
    requirements = build_dir / REQUIREMENTS_NAME
    if not requirements.is_file():
        raise UsageError(f"{build_dir} has no {REQUIREMENTS_NAME}: build it again with svai build")
    pins = sorted(
        {
            line.split("#", 1)[0].strip()
            for line in requirements.read_text(encoding="utf-8").splitlines()
            if line.split("#", 1)[0].strip()
        }
        | set(_server_pins())
    )
    key = hashlib.sha256("\n".join([sys.version, sys.platform, *pins]).encode()).hexdigest()[:16]
    root = cache_dir()
    home = root / "envs" / key
    python = home / "bin" / "python"
    if (home / _READY).is_file():
        return python
    say(f"environment: creating {home} for {len(pins)} pinned requirements (cached afterwards)")
    wheels = wheelhouse()
    wheels.mkdir(parents=True, exist_ok=True)
    pinned = home.parent / f".{key}.txt"
    home.parent.mkdir(parents=True, exist_ok=True)
    pinned.write_text("\n".join(pins) + "\n", encoding="utf-8")
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=home.parent))
    try:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(scratch)
        installed = _pip("install", "--no-index", "--find-links", str(wheels), target=scratch,
                         requirements=pinned)  # fmt: skip
        if installed.returncode != 0:
            say("environment: fetching wheels into the local wheelhouse (once per version)")
            fetched = _pip("download", "--only-binary=:all:", "--dest", str(wheels), target=None,
                           requirements=pinned)  # fmt: skip
            if fetched.returncode != 0:
                raise ToolMissingError(
                    "cannot get the artifact's requirements: they are not in the wheelhouse "
                    f"({wheels}) and pip could not download them:\n{_tail(fetched)}"
                )
            installed = _pip("install", "--no-index", "--find-links", str(wheels),
                             target=scratch, requirements=pinned)  # fmt: skip
            if installed.returncode != 0:
                raise UsageError(f"cannot install the artifact's requirements:\n{_tail(installed)}")
        (scratch / _READY).write_text("\n".join(pins) + "\n", encoding="utf-8")
        if home.exists():  # another process finished first: keep its environment
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            os.replace(scratch, home)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        pinned.unlink(missing_ok=True)
    # The environment was built at the scratch path; its interpreter link and pyvenv.cfg do not
    # name that path, so the renamed folder works as it is (scripts in bin/ are not used).
    return python


def _server_pins() -> list[str]:
    """What the HTTP server adds to any artifact it runs (a Lambda zip does not ship it)."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in SERVER_PACKAGES]


def _pip(*args: str, target: Path | None, requirements: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    if target is not None:
        command += ["--python", str(target / "bin" / "python")]
    command += [*args, "-r", str(requirements)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr or done.stdout).strip()[-1500:]
