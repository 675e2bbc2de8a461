"""Issue 15, item 6: the catalog's dataset factories resolve every dataset of every registered
pipeline, and reject an unknown benchmark, split or cell, listing the known ones."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetNotFoundError

from llm_distillation.catalog import ProjectDataCatalog
from llm_distillation.pipeline_registry import register_pipelines
from llm_distillation.pipelines.student_training.matrix import expand_matrix
from llm_distillation.schema import BENCHMARKS
from tests.conftest import PROJECT_ROOT


def _catalog(env: str) -> tuple[ProjectDataCatalog, dict]:
    """The project's catalog of ``conf/base`` + ``conf/<env>`` with its parameters added as
    Kedro's context adds them (``params:<key>``), and those parameters."""
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / settings.CONF_SOURCE), env=env, **settings.CONFIG_LOADER_ARGS
    )
    params = dict(loader["parameters"])
    catalog = ProjectDataCatalog.from_config(loader["catalog"])
    for key, value in params.items():
        catalog[f"params:{key}"] = value
    return catalog, params


@pytest.mark.parametrize("env", ["local", "cpu_study", "paper"])
def test_every_dataset_of_every_pipeline_resolves(env, monkeypatch):
    monkeypatch.setenv("KEDRO_ENV", env)
    bootstrap_project(PROJECT_ROOT)
    assert settings.DATA_CATALOG_CLASS is ProjectDataCatalog  # what `kedro run` uses
    catalog, params = _catalog(env)
    pipelines = register_pipelines()
    names = sorted({n for p in pipelines.values() for n in p.datasets() if "params:" not in n})
    assert len(names) > 100, names  # every pipeline's datasets, not an empty registry
    for name in names:
        if name != "parameters":
            assert catalog.get(name, fallback_to_runtime_pattern=True) is not None, name
    # the matrix's cells are in the pipelines, so the {cell} factories were checked
    cells = expand_matrix(params)
    assert any(n.startswith(f"{cells[0].namespace}.") for n in names), cells[0]


@pytest.mark.parametrize(
    ("name", "placeholder", "value"),
    [
        ("typo.examples", "benchmark", "typo"),
        ("study_cqq.consolidated_train", "benchmark", "cqq"),
        ("cqa.teacher_outputs_tset", "split", "tset"),
    ],
)
def test_an_unknown_benchmark_or_split_fails_listing_the_known_ones(name, placeholder, value):
    catalog, _ = _catalog("local")
    with pytest.raises(DatasetNotFoundError, match=f"unknown {placeholder} '{value}'") as err:
        catalog.get(name, fallback_to_runtime_pattern=True)
    assert name in str(err.value)
    if placeholder == "benchmark":
        assert f"known: {', '.join(BENCHMARKS)}" in str(err.value)
    with pytest.raises(DatasetNotFoundError):
        catalog.load(name)


def test_an_unknown_cell_fails_listing_the_matrix():
    catalog, params = _catalog("local")
    cells = [c.namespace for c in expand_matrix(params)]
    real = "esnli_smollm2_135m_standard"
    assert real in cells  # the typo below is one letter off a real cell
    typo = "esnli_smollm2_135m_standrd"
    with pytest.raises(DatasetNotFoundError, match=f"unknown cell '{typo}'") as err:
        catalog.get(f"{typo}.student_model")
    assert f"known: {', '.join(cells)}" in str(err.value)
    assert catalog.get(f"{real}.student_model") is not None
