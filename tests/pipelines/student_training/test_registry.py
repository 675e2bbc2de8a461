"""The student_training pipeline: one namespace per matrix cell, named nodes; the registry
builds it from the run's configuration."""

from __future__ import annotations

import pytest

from llm_distillation.pipelines.student_training import create_pipeline
from llm_distillation.pipelines.student_training.matrix import Cell
from tests.conftest import PROJECT_ROOT

NODES = ("select_training_examples", "build_training_views", "train_students")


CELLS = [
    Cell("cqa", "smollm2_135m", "standard", (0,)),
    Cell("cqa", "smollm2_135m", "mt_unrevised", (0,)),
]


@pytest.fixture(scope="module")
def pipeline():
    return create_pipeline(cells=CELLS)


def test_one_namespace_per_cell_with_every_node_named(pipeline):
    cells = CELLS
    names = sorted(n.name for n in pipeline.nodes)
    assert names == sorted(f"{c.namespace}.{node}" for c in cells for node in NODES)
    assert all(n._name is not None for n in pipeline.nodes)
    assert {n.namespace for n in pipeline.nodes} == {c.namespace for c in cells}


def test_cells_share_their_inputs_and_own_their_outputs(pipeline):
    cells = CELLS
    shared = {"study_cqa.consolidated_train", "teacher_model", "params:student_training"}
    checkpoints = {f"{c.namespace}.training_checkpoints" for c in cells}
    assert pipeline.inputs() == shared | checkpoints
    assert pipeline.outputs() == {
        f"{c.namespace}.{out}" for c in cells for out in ("student_model", "training_curves")
    }


def test_a_cell_is_selected_by_namespace_and_tags(pipeline):
    one = pipeline.only_nodes_with_namespaces(["cqa_smollm2_135m_mt_unrevised"])
    assert {n.name.split(".")[-1] for n in one.nodes} == set(NODES)
    student = pipeline.only_nodes_with_tags("student_smollm2_135m")
    assert len(student.nodes) == 2 * len(NODES)
    assert len(pipeline.only_nodes_with_tags("condition_standard").nodes) == len(NODES)


def test_cell_datasets_resolve_to_this_pipelines_catalog_entries():
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    conf = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local")
    catalog = DataCatalog.from_config(conf["catalog"])
    ns = "cqa_smollm2_shrunk_standard"
    types = {
        name: type(catalog.get(f"{ns}.{name}")).__name__
        for name in ("student_model", "training_curves", "training_checkpoints")
    }
    assert types == {
        "student_model": "StudentModelDataset",
        "training_curves": "TrainingCurvesDataset",
        "training_checkpoints": "TrainingCheckpointsDataset",
    }


def test_the_data_source_names_the_train_table():
    generated = {"student_training": {"data": {"source": "generated"}}}
    pipeline = create_pipeline(cells=CELLS[:1], parameters=generated)
    assert "cqa.consolidated_train" in pipeline.inputs()
    assert "study_cqa.consolidated_train" not in pipeline.inputs()


def _namespaces(pipeline):
    return {n.namespace for n in pipeline.nodes if n.namespace}


def test_the_registry_follows_the_session_configuration():
    """`kedro run --env paper` does not export KEDRO_ENV, and `--params` changes the matrix:
    the project hook builds the registry from the session's config loader."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, env="paper") as session:
        session.load_context()
        paper = pipelines["student_training"]
    assert len(paper.nodes) == 36 * len(NODES)
    assert "strategyqa_qwen3_0_6b_mt_cf_revised.train_students" in {n.name for n in paper.nodes}
    standard = {"student_training": {"matrix": {"conditions": ["standard"]}}}
    with KedroSession.create(project_path=PROJECT_ROOT, runtime_params=standard) as session:
        session.load_context()
        one = {"esnli_smollm2_135m_standard"}
        assert _namespaces(pipelines["student_training"]) == one
        assert _namespaces(pipelines["evaluation"]) == one
        curves = {i for i in pipelines["reporting"].inputs() if i.endswith(".training_curves")}
        assert curves == {"esnli_smollm2_135m_standard.training_curves"}
    bootstrap_project(PROJECT_ROOT)  # the project's own configuration again
    assert len(pipelines["student_training"].nodes) == 2 * len(NODES)
