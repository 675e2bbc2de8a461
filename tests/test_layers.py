"""Layers only point down (docs/architecture.md): no module imports from a layer above it, and
no modules import each other in a circle (not even through a function-level import)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "llm_distillation"
CORE = 0
RANKS = {
    # core
    "schema": CORE, "config": CORE, "errors": CORE, "sampling": CORE, "cleaning": CORE,
    "rendering": CORE, "answers": CORE, "distributed": CORE, "__init__": CORE, "__main__": 5,
    # frameworks, each may use those listed before it
    "sources": 1.0, "generation": 1.1, "teacher": 1.2, "consolidation": 1.3, "training": 1.4,
    "evaluation": 1.5, "reporting": 1.6,
    # datasets, pipelines, wiring
    "kedro_datasets": 2, "pipelines": 3, "hooks": 4, "settings": 4, "pipeline_registry": 4,
    "catalog": 4, "cli": 4,
}  # fmt: skip


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("llm_distillation.")}


def test_every_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    tops -= {"py", "__pycache__", "py.typed"}
    unknown = sorted(t for t in tops if t.removesuffix(".py") not in RANKS and t != "py")
    assert not unknown, f"give these a layer in tests/test_layers.py: {unknown}"


def test_no_module_imports_from_a_layer_above_it():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        own = RANKS[_layer(".".join(relative.parts))]
        # the wiring package `pipelines/__init__.py` discovers the pipelines' parameters
        if relative.parts[1:] == ("pipelines", "__init__"):
            own = RANKS["hooks"]
        for module in _imports(path):
            target = RANKS.get(_layer(module))
            if target is None or target > own:
                bad.append(f"{'/'.join(relative.parts)} imports {module}")
    assert not bad, "\n".join(bad)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks (imports for type hints
    only never run)."""
    for child in ast.iter_child_nodes(tree):
        test = child.test if isinstance(child, ast.If) else None
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            continue
        yield child
        yield from _runtime_nodes(child)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in the file but type-checking
    blocks). ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else
    ``a.b``."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set()
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                found |= subs or {node.module}
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (its strongly connected components of more than one
    module), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_between_modules():
    """Direct imports, function-level ones included (a package's ``__init__`` re-exporting
    its own modules is not a circle: it is what importing the package runs first)."""
    graph = _import_graph()
    packages = {n for n in graph if (PACKAGE.parent / n.replace(".", "/") / "__init__.py").exists()}
    own = {
        n: {t for t in targets if not (n in packages and t.startswith(f"{n}."))}
        for n, targets in graph.items()
    }
    cycles = import_cycles(own)
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_circle_between_pipeline_packages():
    """``pipelines/<a>`` may use ``pipelines/<b>`` (e.g. evaluation reads student_training's
    matrix) but never both ways."""
    graph = _import_graph()
    prefix = "llm_distillation.pipelines."
    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        if name.startswith(prefix):
            own = name.removeprefix(prefix).split(".")[0]
            others = {t.removeprefix(prefix).split(".")[0] for t in targets if t.startswith(prefix)}
            packages.setdefault(own, set()).update(others - {own})
    cycles = import_cycles(packages)
    assert not cycles, f"pipeline packages in a circle: {cycles}"
