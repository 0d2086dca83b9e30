"""The package's shape: no import cycles, and no package reaches into another's private modules.

Every import counts: inside functions (a lazy import is still a dependency) and under
`if TYPE_CHECKING:` (a type hint is one too). The old loop instruments.timeline -> display.plots
(lazily, to draw) -> instruments.timeline (for its type hints) was both.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "asynclab"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def import_graph(root: Path) -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, imported name or "")} for the package at `root`, within it only."""
    paths = {_module_name(p, root): p for p in root.rglob("*.py")}
    top = root.name
    graph: dict[str, set[tuple[str, str]]] = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        edges: set[tuple[str, str]] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update((alias.name, "") for alias in node.names if alias.name.split(".")[0] == top)
                continue
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != top:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                edges.add((submodule, "") if submodule in paths else (target, alias.name))
        graph[module] = {(t, n) for t, n in edges if t in paths and t != module}
    return graph


def cycles(graph: dict[str, set[tuple[str, str]]]) -> list[list[str]]:
    """One example path for every strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w, _name in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def private_reaches(graph: dict[str, set[tuple[str, str]]]) -> list[str]:
    """Imports of another package's private module (`pkg._mod`) or private name (`from pkg.mod import _x`)."""
    bad = []
    for module, edges in sorted(graph.items()):
        is_package = any(other.startswith(module + ".") for other in graph)
        here = module if is_package else module.rsplit(".", 1)[0]
        for target, name in sorted(edges):
            owner, _, last = target.rpartition(".")
            if last.startswith("_") and owner != here and not (module.startswith(owner + ".") and owner):
                bad.append(f"{module} imports private module {target}")
            elif name.startswith("_") and not name.startswith("__") and owner != here and target != here:
                bad.append(f"{module} imports private name {name} from {target}")
    return bad


def test_no_import_cycles() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_no_package_imports_another_packages_private_modules_or_names() -> None:
    assert private_reaches(import_graph(PACKAGE)) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize("where", ["top", "function"])
def test_a_cycle_is_found_also_through_a_lazy_import(tmp_path: Path, where: str) -> None:
    lazy = "def f():\n    from ..b import plots\n" if where == "function" else "from ..b import plots\n"
    root = _write(tmp_path, {"__init__.py": "", "a/__init__.py": "", "a/timeline.py": lazy,
                             "b/__init__.py": "", "b/plots.py": "from ..a.timeline import f\n"})
    assert cycles(import_graph(root)) == [["pkg.a.timeline", "pkg.b.plots"]]


def test_type_checking_imports_count(tmp_path: Path) -> None:
    root = _write(tmp_path, {"__init__.py": "", "a.py": "from . import b\n",
                             "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"})
    assert cycles(import_graph(root)) == [["pkg.a", "pkg.b"]]


def test_private_modules_and_names_are_found_across_packages_only(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "__init__.py": "",
        "services/__init__.py": "", "services/_child.py": "def _lock(): ...\n",
        "services/api.py": "from ._child import _lock\n",            # same package: fine
        "tools/__init__.py": "", "tools/sizing.py": "from ..services._child import _lock\n",
        "tools/other.py": "from ..services import _child\n",
        "services/pgdata.py": "def _try_lock(): ...\n",
        "tools/locks.py": "def f():\n    from ..services.pgdata import _try_lock\n",
    })
    assert private_reaches(import_graph(root)) == [
        "pkg.tools.locks imports private name _try_lock from pkg.services.pgdata",
        "pkg.tools.other imports private module pkg.services._child",
        "pkg.tools.sizing imports private module pkg.services._child",
    ]


@pytest.mark.parametrize("module", ["asynclab", "asynclab.grading.worker", "asynclab.doctor", "asynclab.instruments"])
def test_importing_loads_neither_ipython_nor_httpx(module: str) -> None:
    """~230 check processes per test run import the worker: these two were most of its start-up."""
    code = f"import sys, {module}; print(sorted({{'IPython', 'httpx'}} & set(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
