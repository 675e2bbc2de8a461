"""Layers only point down (docs/architecture.md): no module imports from a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "llm_distillation"
CORE = 0
RANKS = {
    # core
    "schema": CORE, "config": CORE, "errors": CORE, "sampling": CORE, "cleaning": CORE,
    "rendering": CORE, "project_config": CORE, "answers": CORE, "distributed": CORE,
    "__init__": CORE, "__main__": 5,
    # frameworks, each may use those listed before it
    "sources": 1.0, "generation": 1.1, "teacher": 1.2, "consolidation": 1.3, "training": 1.4,
    "evaluation": 1.5, "reporting": 1.6,
    # datasets, pipelines, wiring
    "kedro_datasets": 2, "pipelines": 3, "hooks": 4, "settings": 4, "pipeline_registry": 4,
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
