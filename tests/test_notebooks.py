"""The notebooks run against a real catalog (their code cells, in an IPython shell)."""

from __future__ import annotations

import json
import os

from tests.conftest import PROJECT_ROOT
from tests.kedro_session import run_pipelines


def test_explore_catalog_notebook_runs(tmp_path, shared_data, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    run_pipelines(["ingest"], tmp_path, params={"shared_data_dir": str(shared_data)})
    notebook = json.loads((PROJECT_ROOT / "notebooks" / "explore_catalog.ipynb").read_text())
    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    shell = InteractiveShell.instance()
    try:
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            # Point the notebook's session at this test's run instead of data/.
            source = source.replace(
                "%reload_kedro ..",
                f"%reload_kedro .. --params data_dir={tmp_path},shared_data_dir={shared_data}",
            )
            result = shell.run_cell(source)
            result.raise_error()
        assert shell.user_ns["train"].height > 0
    finally:
        InteractiveShell.clear_instance()
        os.chdir(PROJECT_ROOT)
