"""Every catalog example in a docstring of this project's datasets is a valid catalog entry:
it resolves through Kedro's ``DataCatalog`` (its dataset factory too) to an instance of the
class whose docstring shows it."""

from __future__ import annotations

import inspect
import re

import pytest
import yaml
from kedro.io import DataCatalog

import llm_distillation.kedro_datasets as package

CLASSES = [getattr(package, name) for name in package.__all__]
PLACEHOLDERS = {"benchmark": "cqa", "split": "train", "cell": "cqa_t5_small_standard"}
INTERPOLATION = re.compile(r"\$\{[^{}]*(\$\{[^{}]*\}[^{}]*)?\}")  # ${globals:x}, ${a, ${b}}


def catalog_example(cls: type) -> str | None:
    """The literal block after the ``Example …::`` line of ``cls``' docstring, dedented."""
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Example\b[^\n]*::\n\n((?:(?: {4}[^\n]*)?\n?)+)", doc, flags=re.M)
    if match is None:
        return None
    return "\n".join(line[4:] for line in match.group(1).splitlines())


EXAMPLES = {cls.__name__: catalog_example(cls) for cls in CLASSES}


def test_the_datasets_with_catalog_entries_show_one():
    shown = {name for name, example in EXAMPLES.items() if example}
    assert {
        "BenchmarkSourceDataset",
        "HFModelFolderDataset",
        "PackagedFileDataset",
        "StudentModelDataset",
        "TeacherShardsDataset",
        "TrainingCheckpointsDataset",
    } <= shown


@pytest.mark.parametrize("cls", [c for c in CLASSES if EXAMPLES[c.__name__]], ids=str)
def test_docstring_example_resolves_to_its_class(cls, tmp_path):
    text = INTERPOLATION.sub(str(tmp_path), EXAMPLES[cls.__name__])
    config = yaml.safe_load(text)
    assert len(config) == 1, f"{cls.__name__}: one catalog entry per example"
    [(pattern, _)] = config.items()
    catalog = DataCatalog.from_config(config)
    dataset = catalog.get(pattern.format(**PLACEHOLDERS))
    assert type(dataset) is cls
    if "${" in EXAMPLES[cls.__name__]:  # a dataset with a path (not a packaged file)
        assert str(tmp_path) in repr(dataset)  # the path of the example
