"""The registry's student_training pipeline: one namespace per matrix cell, named nodes."""

from __future__ import annotations

import pytest

from llm_distillation.pipelines.experiment import load_matrix
from tests.conftest import PROJECT_ROOT

NODES = ("select_training_examples", "build_training_views", "train_students")


@pytest.fixture(scope="module")
def pipeline():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    return pipelines["student_training"]


def test_one_namespace_per_cell_with_every_node_named(pipeline):
    cells = load_matrix()
    assert len(cells) == 2
    names = sorted(n.name for n in pipeline.nodes)
    assert names == sorted(f"{c.namespace}.{node}" for c in cells for node in NODES)
    assert all(n._name is not None for n in pipeline.nodes)
    assert {n.namespace for n in pipeline.nodes} == {c.namespace for c in cells}


def test_cells_share_their_inputs_and_own_their_outputs(pipeline):
    cells = load_matrix()
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


def test_the_registry_follows_the_run_environment():
    """`kedro run --env paper` does not export KEDRO_ENV: the project hook binds the session's
    config loader, and the registry is rebuilt from that configuration's matrix."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, env="paper") as session:
        session.load_context()
        paper = pipelines["student_training"]
    assert len(paper.nodes) == 36 * len(NODES)
    assert "strategyqa_qwen3_0_6b_mt_cf_revised.train_students" in {n.name for n in paper.nodes}
    with KedroSession.create(project_path=PROJECT_ROOT) as session:  # back to the default
        session.load_context()
        assert len(pipelines["student_training"].nodes) == 2 * len(NODES)
