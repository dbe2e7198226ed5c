"""The package layout holds: no import cycles anywhere in svai, and the shipped runtime stands alone.

Import-linter (``make lint``) checks the layers; these tests check what contracts cannot say.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), lazy imports included."""
    modules = sorted(graph.modules)
    edges = {
        m: sorted(set(graph.find_modules_directly_imported_by(m)) & set(modules)) for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def test_svai_has_no_import_cycles() -> None:
    assert import_cycles(grimp.build_graph("svai")) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("def f():\n    from loop import a\n")  # a lazy import counts
    sys.path.insert(0, str(tmp_path))
    try:
        assert import_cycles(grimp.build_graph("loop")) == [["loop.a", "loop.b"]]
    finally:
        sys.path.remove(str(tmp_path))


def test_the_runtime_imports_with_nothing_else_of_svai(tmp_path: Path) -> None:
    # What ships: svai/__init__.py (a stub) and svai/runtime/. Every module imports from there.
    shipped = tmp_path / "svai"
    shipped.mkdir()
    (shipped / "__init__.py").write_text("")
    modules = []
    for source in sorted((ROOT / "svai" / "runtime").rglob("*.py")):
        relative = source.relative_to(ROOT)
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(source.read_bytes())
        # __main__ runs the server; aws_lambda builds its app at import, as Lambda's init does.
        if source.name not in ("__main__.py", "aws_lambda.py"):
            modules.append(".".join(relative.with_suffix("").parts).removesuffix(".__init__"))
    loaded = "; ".join(
        [
            "import sys, importlib",
            *(f"importlib.import_module({m!r})" for m in modules),
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'click', 'jinja2', 'yaml', 'pulumi', 'sklearn', 'torch'))",
            "print(bad)",
        ]
    )
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {loaded}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
