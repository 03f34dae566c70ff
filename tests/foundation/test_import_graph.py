"""The portal's own modules import each other in one direction only (docs/architecture.md).

The graph is read from the source with ``ast``: every import statement counts, at module level
or inside a function (a "lazy" import is still an arrow). Imports only a type checker runs
(under ``if TYPE_CHECKING:``) do not: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("exportportal", "accounts", "requests_app", "exports", "outbox")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def portal_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            for other in node.orelse:
                yield from _import_nodes(other)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _import_nodes(node)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The portal modules that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from package import module" imports the module; otherwise the names are in base.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in modules:  # "import a.b.c" of a name inside a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = portal_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the modules on it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_portals_modules_import_each_other_without_a_circle():
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 100, "the portal's modules were not found"
    assert cycles(graph) == []


def test_tasks_call_the_pipeline_and_the_pipeline_never_imports_the_tasks():
    graph = import_graph(ROOT, PACKAGES)
    assert "exports.pipeline" in graph["exports.tasks"]
    pipeline = [name for name in graph if name.startswith("exports.pipeline")]
    assert len(pipeline) > 5
    assert not [name for name in pipeline if "exports.tasks" in graph[name]]


def test_requests_app_never_imports_exports():
    graph = import_graph(ROOT, PACKAGES)
    reaching = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("requests_app")
        for target in targets
        if target.startswith("exports")
    }
    assert reaching == set()


def write(root: Path, name: str, source: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)


def test_an_import_inside_a_function_closes_a_circle(tmp_path):
    write(tmp_path, "app/__init__.py", "")
    write(tmp_path, "app/tasks.py", "from app import pipeline\n")
    write(tmp_path, "app/pipeline.py", "def send():\n    from app import tasks\n")
    write(tmp_path, "app/other.py", "from .pipeline import send\n")

    assert cycles(import_graph(tmp_path, ("app",))) == [["app.pipeline", "app.tasks"]]


def test_relative_imports_and_type_checking_imports_are_read_as_python_runs_them(tmp_path):
    write(tmp_path, "app/__init__.py", "")
    write(tmp_path, "app/sub/__init__.py", "from . import models\n")
    write(tmp_path, "app/sub/models.py", "from ..rules import Rule\n")
    write(
        tmp_path,
        "app/rules.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.sub.models import M\n",
    )

    graph = import_graph(tmp_path, ("app",))

    assert graph["app.sub"] == {"app.sub.models"}
    assert graph["app.sub.models"] == {"app.rules"}
    assert graph["app.rules"] == set()
    assert cycles(graph) == []
