"""kd's subpackages are layers: each imports only from those before it, and nothing imports in a circle.

    config, layout, cache  <  data  <  models  <  training  <  study  <  serving  <  cli

Deferred imports (inside functions) count too: a layer that reaches upward only at call
time is still tangled.
"""

import ast
from pathlib import Path

from conftest import ROOT

LAYERS = ["", "data", "models", "training", "study", "serving"]  # "": kd's own foundation modules
ENTRY = {"kd.cli", "kd.__main__"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "kd").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The kd modules a file imports, anywhere in it; `from kd.data import clipart` is kd.data.clipart."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "kd"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kd":
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names}
    return found


def layer(module: str) -> int:
    if module in ENTRY:
        return len(LAYERS)
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else 0


def test_every_import_points_down_or_sideways():
    known = modules()
    upward = [f"{m} imports {t}" for m, path in known.items() for t in sorted(imports(path, known)) if layer(t) > layer(m)]
    assert not upward


def test_no_import_cycles():
    known = modules()
    graph = {m: {t for t in imports(path, known) if t in known and t != m} for m, path in known.items()}
    done, trail = set(), []

    def visit(m: str) -> None:
        if m in trail:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(m):] + [m]))
        if m in done:
            return
        trail.append(m)
        for t in sorted(graph[m]):
            visit(t)
        trail.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)
