"""The lineage in kedro-viz: every registered pipeline, dataset and namespace is in the graph
that ``kedro viz build`` writes; every persisted dataset has a layer and a preview kedro-viz can
show.

The project promises six pipelines (docs/architecture.md). Pipelines are discovered from the
registry, never listed here; :data:`PROMISED` only bounds them and says which are still missing.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from tests.kedro_session import run_pipelines

PROMISED = (
    "ingest",
    "teacher_generation",
    "consolidation",
    "student_training",
    "evaluation",
    "reporting",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def registry() -> dict[str, Any]:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return dict(pipelines)


def _registered(registry) -> set[str]:
    return set(registry) - {"__default__"}


def _datasets(pipeline) -> set[str]:
    """The datasets of ``pipeline`` that kedro-viz draws as data nodes (not parameters)."""
    return {d for d in pipeline.datasets() if d != "parameters" and not d.startswith("params:")}


def _namespaces(pipeline) -> set[str]:
    """Every namespace of ``pipeline``'s nodes, nested ones with their parents (``a``, ``a.b``)."""
    found = set()
    for node in pipeline.nodes:
        parts = (node.namespace or "").split(".") if node.namespace else []
        found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return found


def test_registered_pipelines_are_among_the_promised_six(registry):
    unknown = sorted(_registered(registry) - set(PROMISED))
    assert not unknown, f"pipelines outside the project's six: {unknown} (docs/architecture.md)"


def test_all_six_promised_pipelines_are_registered(registry):
    missing = [name for name in PROMISED if name not in registry]
    assert not missing, f"promised pipelines not registered yet: {missing}"


def test_kedro_viz_shows_the_sessions_matrix(monkeypatch):
    """kedro-viz builds the graph after loading a session's context: with the project's hooks
    (``kedro viz run --include-hooks``) the pipelines follow ``--env`` and ``--params``;
    without them (kedro-viz's default) they follow ``$KEDRO_ENV``, as ``kedro registry
    list`` does."""
    from kedro.framework.startup import bootstrap_project
    from kedro_viz.integrations.kedro.data_loader import load_data

    def cells(**kwargs):
        try:
            _, pipelines, _ = load_data(PROJECT_ROOT, **kwargs)
        finally:
            bootstrap_project(PROJECT_ROOT)  # Kedro's registry: rebuilt on its next access
        return {n.namespace for n in pipelines["student_training"].nodes}

    assert len(cells(env="paper", include_hooks=True)) == 36
    standard = {"student_training": {"matrix": {"conditions": ["standard"]}}}
    assert cells(include_hooks=True, extra_params=standard) == {"esnli_smollm2_135m_standard"}
    monkeypatch.setenv("KEDRO_ENV", "paper")
    assert len(cells(include_hooks=False)) == 36


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory) -> Path:
    """``kedro viz build`` of a copy of the project (it writes ``build/`` into the project)."""
    work = tmp_path_factory.mktemp("viz") / "project"
    shutil.copytree(
        PROJECT_ROOT,
        work,
        ignore=shutil.ignore_patterns(".venv", "data", "build", ".git", ".viz", "__pycache__"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        check=False,  # the assertion below shows its stderr
        cwd=work,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "build" / "api"


def _graph(api: Path, pipeline_id: str | None = None) -> dict[str, Any]:
    path = api / "main" if pipeline_id is None else api / "pipelines" / pipeline_id
    assert path.is_file(), f"kedro viz build wrote no {path.relative_to(api.parent)}"
    return json.loads(path.read_text())


def test_kedro_viz_build_shows_every_pipeline_dataset_and_namespace(viz_build, registry):
    main = _graph(viz_build)
    assert {p["id"] for p in main["pipelines"]} == set(registry)  # __default__ included
    assert set(_registered(registry)) <= set(PROMISED)
    node_pipelines = {pid for n in main["nodes"] for pid in n.get("pipelines", [])}
    assert set(registry) <= node_pipelines, "a registered pipeline has no node in the graph"

    data = {n["name"]: n for n in main["nodes"] if n["type"] == "data"}
    missing = sorted(_datasets(registry["__default__"]) - set(data))
    assert not missing, f"datasets of __default__ without a data node: {missing}"
    namespaces = _namespaces(registry["__default__"])
    missing = sorted(namespaces - set(main["modular_pipelines"]))
    assert not missing, f"namespaces of the registry missing from the graph: {missing}"

    # Every persisted dataset is drawn in its layer (in-memory ones have none, by design).
    unlayered = sorted(
        name
        for name, node in data.items()
        if not node.get("layer") and not node["dataset_type"].endswith("MemoryDataset")
    )
    assert not unlayered, f"persisted datasets without a layer in the graph: {unlayered}"
    layers = set(main["layers"])
    assert {"raw", "intermediate", "primary", "feature", "model_input", "reporting"} <= layers

    # Each pipeline's own view (the pipeline selector) holds its datasets and namespaces.
    for pipeline_id, pipeline in registry.items():
        graph = _graph(viz_build, pipeline_id)
        assert graph["selected_pipeline"] == pipeline_id
        names = {n["name"] for n in graph["nodes"] if n["type"] == "data"}
        missing = sorted(_datasets(pipeline) - names)
        assert not missing, f"pipelines/{pipeline_id}: datasets without a data node: {missing}"
        missing = sorted(_namespaces(pipeline) - set(graph["modular_pipelines"]))
        assert not missing, f"pipelines/{pipeline_id}: namespaces missing: {missing}"
        tasks = {n["full_name"] for n in graph["nodes"] if n["type"] == "task"}
        assert {n.name for n in pipeline.nodes} <= tasks, f"pipelines/{pipeline_id}: nodes"


# ------------------------------------------------------------------- previews on real data
SMALL_RUN = ("ingest", "teacher_generation", "consolidation", "reporting")
"""The pipelines whose datasets the preview test fills (cheaply, on the real samples)."""


def _write_teacher_shards(data_dir: Path, shared_data: Path, per_split: int = 6) -> list[Any]:
    """cqa test-split shards in teacher_generation's layout: the study's own outputs of a few
    examples (as the consolidation tests write them); the jobs written."""
    from llm_distillation.consolidation.study_import import import_study
    from llm_distillation.sources.formats import RawBenchmark, read_split
    from tests.consolidation.helpers import generated_like, write_shards

    raw = RawBenchmark("cqa", "hf_disk", "hf")
    raw.splits["test"] = read_split(
        "cqa", "hf_disk", "cqa-llama-test", root=shared_data / "llm_outputs/consolidated"
    )
    _, long, _ = import_study(raw, "llama")
    ids = long["example_id"].unique(maintain_order=True).head(per_split)
    long = generated_like(long.filter(pl.col("example_id").is_in(ids.implode())))
    root = data_dir / "04_feature" / "teacher_outputs" / "cqa" / "test"
    return write_shards(root, long, shard_size=3)


def _check_preview(name: str, preview: Any, kind: str, nrows: int | None) -> None:
    """``preview`` is what kedro-viz can show for a preview of type ``kind``."""
    if kind == "TablePreview":
        assert set(preview) == {"index", "columns", "data"}, f"{name}: {sorted(preview)}"
        json.dumps(preview)  # kedro-viz sends it as JSON: no polars or numpy values
        rows = preview["data"]  # may be empty (no rejected rows), never without columns
        assert preview["columns"], f"{name}: a table preview without columns"
        assert len(rows) == len(preview["index"]) <= (nrows or len(rows)), name
        assert all(len(row) == len(preview["columns"]) for row in rows), name
    elif kind == "ImagePreview":
        assert base64.b64decode(preview).startswith(PNG_MAGIC), f"{name}: not a PNG"
    elif kind == "JSONPreview":
        json.loads(preview)
    else:
        raise AssertionError(f"{name}: preview type {kind!r} is not one kedro-viz shows")


@pytest.mark.slow
def test_every_dataset_with_data_has_a_valid_kedro_viz_preview(tmp_path, shared_data, registry):
    """A small run on the real samples, then each dataset's ``preview()`` called as kedro-viz
    calls it (``metadata.kedro-viz.preview_args``; ``preview: false`` turns it off)."""
    from kedro.framework.session import KedroSession
    from kedro.io import MemoryDataset

    from llm_distillation.kedro_datasets.teacher_shards import TeacherShardsDataset

    params = {"shared_data_dir": str(shared_data)}
    run_pipelines(["ingest"], tmp_path, params=params, namespaces=["cqa"])
    run_pipelines(["consolidation"], tmp_path, params=params, namespaces=["study_cqa"])
    run_pipelines(["reporting"], tmp_path, params=params, tags=["study_analysis"])
    shard_jobs = _write_teacher_shards(tmp_path, shared_data)

    with KedroSession.create(
        project_path=PROJECT_ROOT,
        runtime_params={"data_dir": str(tmp_path), **params},
        save_on_close=False,
    ) as session:
        catalog = session.load_context().catalog
    for name in _datasets(registry["__default__"]):
        shards = catalog.get(name)
        if isinstance(shards, TeacherShardsDataset) and name.startswith("cqa.") and "_test" in name:
            # as teacher_generation's save does: the plan that makes the folder complete
            writes = shards._writes
            shards._store.write_plan(writes, [j for j in shard_jobs if j.task in writes])
    checked: dict[str, set[str]] = {}
    for name in sorted(_datasets(registry["__default__"])):
        dataset = catalog.get(name)
        if dataset is None or isinstance(dataset, MemoryDataset):
            continue
        viz = (dataset.metadata or {}).get("kedro-viz", {})
        if viz.get("preview") is False or not hasattr(dataset, "preview"):
            continue
        if not dataset.exists():
            continue
        args = viz.get("preview_args") or {}
        kind = inspect.signature(dataset.preview).return_annotation
        kind = getattr(kind, "__name__", str(kind))
        _check_preview(name, dataset.preview(**args), kind, args.get("nrows"))
        checked.setdefault(type(dataset).__name__, set()).add(name)

    # Every preview of the project's own datasets used by the small run's pipelines was tried.
    ran = [registry[p] for p in SMALL_RUN if p in registry]
    # reporting ran its study analysis only (the evaluation analysis needs a trained matrix)
    ran = [
        p.only_nodes_with_tags("study_analysis")
        if any("study_analysis" in n.tags for n in p.nodes)
        else p
        for p in ran
    ]
    used = [catalog.get(n) for p in ran for n in _datasets(p)]
    own = {
        type(ds).__name__
        for ds in used
        if type(ds).__module__.startswith("llm_distillation.kedro_datasets")
        and hasattr(ds, "preview")
    }
    untried = sorted(own - set(checked))
    assert not untried, f"no saved data to preview for {untried}; extend the small run"
    assert "MatplotlibDataset" in checked  # the figures' previews too
