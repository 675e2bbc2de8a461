"""Project-wide conventions: registry, node names, layers, light imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def pipelines():
    from kedro.framework.project import pipelines as registry
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return dict(registry)


def test_default_pipeline_is_all_pipelines(pipelines):
    names = set(pipelines) - {"__default__"}
    assert "ingest" in names
    all_nodes = {n.name for name in names for n in pipelines[name].nodes}
    assert {n.name for n in pipelines["__default__"].nodes} == all_nodes


def test_every_node_has_an_explicit_name(pipelines):
    for name, pipeline in pipelines.items():
        for node in pipeline.nodes:
            # Kedro derives "func([inputs]) -> [outputs]" when name= is missing.
            assert node._name is not None, f"pipeline {name}: node {node} has no name="


def test_registry_and_package_import_do_not_load_torch():
    code = (
        "import sys\n"
        "from kedro.framework.startup import bootstrap_project\n"
        f"bootstrap_project(r'{PROJECT_ROOT}')\n"
        "from kedro.framework.project import pipelines\n"
        "list(pipelines['__default__'].nodes)\n"
        "import llm_distillation.hooks, llm_distillation.kedro_datasets\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'datasets', 'vllm') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_parameter_files_have_one_top_level_key_named_after_the_file():
    for path in sorted((PROJECT_ROOT / "conf").glob("*/parameters_*.yml")):
        keys = list(yaml.safe_load(path.read_text()) or {})
        assert keys == [path.stem.removeprefix("parameters_")], path


def test_persisted_catalog_entries_have_a_viz_layer():
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if name.startswith("_") or not isinstance(entry, dict):
                continue
            layer = (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")
            assert layer, f"{path.name}: {name} has no metadata.kedro-viz.layer"


def test_kedro_viz_build_shows_every_pipeline(tmp_path):
    """`kedro viz build` works and its lineage holds every registered pipeline."""
    work = tmp_path / "project"
    shutil.copytree(
        PROJECT_ROOT, work, ignore=shutil.ignore_patterns(".venv", "data", "build", ".git")
    )
    subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        check=True,
        cwd=work,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
    )
    main = json.loads((work / "build" / "api" / "main").read_text())
    ids = {p["id"] for p in main["pipelines"]}
    assert {"__default__", "ingest"} <= ids
    layers = set(main["layers"])
    assert {"raw", "intermediate", "primary"} <= layers
