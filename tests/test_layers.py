"""The package's import structure: no module imports one of a layer above it, no import cycles,
and no CLI module imports another CLI module's helpers (only ``_app`` and ``_helpers``)."""

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spacy_bioner"
#: Lower numbers are lower layers: a module may import its own layer and those below.
LAYERS = {
    "atomic": 1, "device": 1, "extras": 1, "sources": 1, "models": 1,
    "corpus": 2, "assets": 2,
    "vocabularies": 3, "evaluation": 3, "vectors": 3,
    "pipeline": 4, "weak": 4, "linking": 4,
    "training": 5, "annotate": 5,
    "cli": 6, "__main__": 7,
}  # fmt: skip


def _modules() -> Dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("spacy_bioner",) + path.relative_to(PACKAGE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str) -> Set[str]:
    """The package modules that ``name`` imports, at the top or inside functions."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in MODULES else target)
    return {m for m in found if m in MODULES and m not in (name, "spacy_bioner")}


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def test_every_module_has_a_layer():
    assert not [m for m in MODULES if m != "spacy_bioner" and m.split(".")[1] not in LAYERS]


def test_no_import_from_a_layer_above():
    upward = sorted((m, t) for m, ts in GRAPH.items() for t in ts if _layer(m) and _layer(t) > _layer(m))
    assert upward == []


def test_no_import_cycles():
    order: List[str] = []
    state: Dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: List[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                pytest.fail(f"import cycle: {' -> '.join(path[path.index(target):] + [target])}")
            if target not in state:
                visit(target, path + [target])
        state[name] = 2
        order.append(name)

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert len(order) == len(GRAPH)


def test_cli_modules_share_helpers_only_through_helpers():
    cli = {m for m in MODULES if m.startswith("spacy_bioner.cli.")}
    allowed = {"spacy_bioner.cli._app", "spacy_bioner.cli._helpers"}
    crossing = sorted((m, t) for m in cli for t in GRAPH[m] & cli if t not in allowed)
    assert crossing == []
