"""The notebooks run headlessly (nbclient, a real IPython kernel) against a real catalog.

Each notebook has a cell tagged ``parameters`` (``data_dir``, ``shared_data_dir``; ``None`` keeps
the project's settings). As papermill does, the test adds a cell after it that sets them to this
test's run, so the notebook's ``%reload_kedro`` reads a fresh data folder instead of ``data/``.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.kedro_session import run_pipelines

NOTEBOOKS = PROJECT_ROOT / "notebooks"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def execute_notebook(
    name: str, parameters: dict[str, Any], monkeypatch, check: str | None = None
) -> Any:
    """Run ``notebooks/<name>`` in a fresh kernel started in ``notebooks/`` (as Jupyter does),
    with ``parameters`` set after its ``parameters`` cell and ``check`` (code) run after its last
    cell; the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
    source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(tagged[0] + 1, injected)
    if check is not None:
        notebook.cells.append(nbformat.v4.new_code_cell(check, id="test-check"))
    # The kernel imports this checkout's package, whatever the caller's PYTHONPATH is relative to.
    pythonpath = [str(PROJECT_ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(pythonpath))
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    return notebook


def _cell(notebook, cell_id: str):
    return next(c for c in notebook.cells if c.get("id") == cell_id)


def _results(cell) -> list[dict[str, Any]]:
    return [o["data"] for o in cell.outputs if o.output_type == "execute_result"]


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        dirty = [c.id for c in notebook.cells if c.cell_type == "code" and c.outputs]
        assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


def test_explore_catalog_notebook_runs(tmp_path, shared_data, monkeypatch):
    run_pipelines(["ingest"], tmp_path, params={"shared_data_dir": str(shared_data)})
    folders = {"data_dir": str(tmp_path), "shared_data_dir": str(shared_data)}
    notebook = execute_notebook("explore_catalog.ipynb", folders, monkeypatch)
    train_cell = next(c for c in notebook.cells if "cqa.train_examples" in c.source)
    (table,) = _results(train_cell)
    assert "example_id" in table["text/html"]


@pytest.mark.slow
def test_analysis_notebook_reproduces_the_main_figure(tmp_path, shared_data, monkeypatch):
    from llm_distillation.reporting.performance import CONDITIONS

    run_pipelines(
        ["reporting"],
        tmp_path,
        params={"shared_data_dir": str(shared_data)},
        tags=["study_analysis"],
    )
    folders = {"data_dir": str(tmp_path), "shared_data_dir": str(shared_data)}
    # The notebook's session reads this test's run, not data/ of the checkout.
    check = (
        'source = str(catalog.get("study_performance_summary")._describe()["filepath"])\n'
        f"assert source.startswith({str(tmp_path)!r}), source"
    )
    notebook = execute_notebook("analysis.ipynb", folders, monkeypatch, check)

    (figure,) = _results(_cell(notebook, "main-figure"))
    png = base64.b64decode(figure["image/png"])
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000  # a drawn figure, not an empty one
    (summary,) = _results(_cell(notebook, "load-summary"))
    assert all(condition in summary["text/html"] for condition in CONDITIONS)
    (tests,) = _results(_cell(notebook, "load-tests"))
    assert "anova_type2" in tests["text/html"] and "tukey_hsd" in tests["text/html"]
    sentences = "".join(o.get("text", "") for o in _cell(notebook, "describe-tests").outputs)
    assert "type II ANOVA" in sentences and "Tukey HSD" in sentences
