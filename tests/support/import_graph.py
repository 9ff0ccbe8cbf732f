"""The project's import graph, read from the source (AST) rather than by importing: every
``import``/``from ... import`` anywhere in a module (function-level and ``TYPE_CHECKING``
ones too: a cycle dodged by a local import is still a cycle), plus the subcommand modules
``liftguard.cli`` loads through ``importlib`` (its ``COMMAND_MODULES``)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sensors", "sync", "models", "edge_agent", "coach", "evaluation", "liftguard")


def project_modules(repo: Path = REPO) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*.py")):
            parts = path.relative_to(repo).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom,
             modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        # ``from pkg import mod`` imports the submodule ``pkg.mod`` (and ``pkg`` only as its
        # parent, which every import of a submodule does)
        submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
        names = submodules + ([base] if len(submodules) < len(node.names) else [])
    found = []
    for name in names:
        while name and name not in modules:   # ``import a.b.c`` of a name inside a module
            name = name.rpartition(".")[0]
        if name and name != module:
            found.append(name)
    return found


def import_graph(repo: Path = REPO) -> dict[str, set[str]]:
    """Module -> the project modules it imports (statically or through the command table)."""
    modules = project_modules(repo)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name].update(_targets(name, path, node, modules))
    from liftguard.cli import COMMAND_MODULES  # light: loads no subcommand

    graph["liftguard.cli"].update(COMMAND_MODULES)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
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
