"""The one direction of imports (docs/architecture.md), checked on the source: every import
of every module, the function-level ones and the subcommands ``liftguard.cli`` loads through
``importlib`` included (tests/support/import_graph.py)."""
from __future__ import annotations

import ast

import pytest

from tests.support.import_graph import REPO, cycles, import_graph

# Floors, lowest first: a module may import its own floor and those below, never above.
FLOORS = {"sensors": 0, "sync": 0, "models": 1, "edge_agent": 2, "coach": 2,
          "evaluation": 3, "liftguard": 4}
# Offline code inside a runtime package counts as evaluation's: bundle training reports its
# held-out figures with evaluation's statistics, and no runtime module may import it.
OFFLINE = ("models.anomaly.training",)
RUNTIME = ("sensors", "sync", "models", "edge_agent", "coach")


def floor(module: str) -> int:
    if module.startswith(OFFLINE):
        return FLOORS["evaluation"]
    return FLOORS[module.split(".")[0]]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def edges(graph: dict[str, set[str]]):
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            yield source, target


def test_the_walk_sees_static_local_and_importlib_imports(graph):
    assert "sensors.frame" in graph["sync.chunks"]                     # top-level import
    assert "sensors.simulator" in graph["edge_agent.daemon.wiring"]    # function-level import
    assert "liftguard.commands.run" in graph["liftguard.cli"]          # the command table
    assert "liftguard.commands.web" in graph["liftguard.cli"]


def test_no_module_imports_a_higher_floor(graph):
    upward = [f"{a} -> {b}" for a, b in edges(graph) if floor(a) < floor(b)]
    assert upward == []


def test_no_cycle_between_modules(graph):
    assert cycles(graph) == []


@pytest.mark.parametrize("depth", [1, 2])
def test_no_cycle_between_packages(graph, depth):
    """Top-level packages (depth 1) and their parts (depth 2: ``edge_agent.daemon``,
    ``edge_agent.uplink``, ``models.anomaly``, ``sensors.simulator``, ...)."""
    def part(module: str) -> str:
        return "evaluation" if module.startswith(OFFLINE) else ".".join(module.split(".")[:depth])

    parts: dict[str, set[str]] = {}
    for a, b in edges(graph):
        pa, pb = part(a), part(b)
        if pa != pb and (depth == 1 or pa.split(".")[0] == pb.split(".")[0]):
            parts.setdefault(pa, set()).add(pb)
    assert cycles(parts) == []


def test_box_and_web_app_never_import_each_other(graph):
    crossing = [f"{a} -> {b}" for a, b in edges(graph)
                if {a.split(".")[0], b.split(".")[0]} == {"edge_agent", "coach"}]
    assert crossing == []


def test_no_runtime_module_imports_evaluation_or_offline_training(graph):
    found = [f"{a} -> {b}" for a, b in edges(graph)
             if a.split(".")[0] in RUNTIME and not a.startswith(OFFLINE)
             and (b.split(".")[0] == "evaluation" or b.startswith(OFFLINE))]
    assert found == []


def test_subcommands_never_import_the_cli_that_loads_them(graph):
    back = [a for a, b in edges(graph) if b == "liftguard.cli" and a != "liftguard.__main__"]
    assert back == []


def test_no_test_module_is_imported_as_a_helper():
    """Helpers live in tests/support; a test file imports no other test file."""
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(REPO)}: {name}" for name in names
                      if name.startswith("tests.") and name.rpartition(".")[2].startswith("test_")]
    assert found == []
