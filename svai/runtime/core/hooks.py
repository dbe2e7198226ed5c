"""Load user functions (pre/post-processing, fallback rules) from the artifact directory.

A hook is named ``"module:function"`` (``pre:prepare`` loads ``pre.py`` or ``pre/__init__.py``;
``pkg.mod:fn`` loads ``pkg/mod.py``) or ``"path/file.py:function"``. The file is resolved inside the
artifact directory only: a name that climbs out of it (``..``, an absolute path, a symlink) is
refused. Modules are imported from their file, so a hook can never shadow or be shadowed by a
standard-library module of the same name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from svai.runtime.core.errors import ConfigError

__all__ = ["load_hook"]


def load_hook(spec: str, base_dir: str | Path) -> Callable[..., Any]:
    """Import ``spec`` (``"module:function"``) from ``base_dir`` and return the function.

    Args:
        spec: ``"module:function"``, ``"pkg.module:function"`` or ``"file.py:function"``.
        base_dir: the artifact directory.

    Returns:
        The callable.

    Raises:
        ConfigError: the file is missing, outside ``base_dir``, fails to import, or the
            attribute is missing or not callable.
    """
    module_part, _, attr = spec.partition(":")
    if not module_part or not attr:
        raise ConfigError(f"hook {spec!r}: expected 'module:function'")
    root = Path(base_dir).resolve()
    file = _find_file(module_part, root, spec)
    # One module per file: two artifacts in one process must not share a "pre" module.
    name = "svai_hook_" + hashlib.sha256(str(file).encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(name, file)
        if loader_spec is None or loader_spec.loader is None:
            raise ConfigError(f"hook {spec!r}: cannot import {file}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except ModuleNotFoundError as exc:
            del sys.modules[name]
            missing = (exc.name or str(exc)).split(".")[0]
            raise ConfigError(
                f"hook {spec!r}: {file.name} imports {missing!r}, which is not installed in the "
                f"artifact: declare it in model.requirements (e.g. `{missing}==<version>`; "
                f"`pip show {missing}` gives yours) and build again"
            ) from exc
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"hook {spec!r}: importing {file} failed: {exc!r}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"hook {spec!r}: {attr!r} is missing or not callable in {file}")
    return fn  # type: ignore[no-any-return]


def _find_file(module_part: str, root: Path, spec: str) -> Path:
    if module_part.endswith(".py"):
        candidates = [root / module_part]
    else:
        rel = Path(*module_part.split("."))
        candidates = [root / rel.with_suffix(".py"), root / rel / "__init__.py"]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise ConfigError(f"hook {spec!r}: {candidate} is outside the artifact directory")
        return resolved
    raise ConfigError(f"hook {spec!r}: no file for {module_part!r} under {root}")
