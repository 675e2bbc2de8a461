"""Issue 15, item 2: a bad parameter, a bad catalog entry or a missing input file ends `kedro run`
(and `python -m llm_distillation`) with a short error: at most 10 lines naming the setting, the
value, the rule and the file to edit, no traceback, exit code != 0. Each runs the real CLI in a
subprocess and fails before any node runs (seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT


def _run(*args: str, module: str = "kedro") -> str:
    """Everything `python -m <module> [run] *args` prints, after asserting it failed short."""
    command = [sys.executable, "-m", module, *(["run"] if module == "kedro" else []), *args]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        command, check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Traceback" not in out and "╭" not in out, out
    assert len(out.strip().splitlines()) <= 10, out
    return out


def _conf_copy(tmp_path: Path) -> Path:
    """A copy of the project's ``conf`` folder, to break."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    return conf


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        ("student_training.training.learning_rate", "-1", "greater than 0"),
        ("evaluation.test_examples", "-5", "greater than or equal to 1"),
    ],
)
def test_a_bad_parameter_on_the_command_line_is_short(setting, value, rule):
    out = _run("--params", f"{setting}={value}")
    assert f"{setting} = {value}: " in out and rule in out, out
    assert "--params option" in out, out


def test_a_bad_parameter_in_a_file_names_the_file(tmp_path):
    conf = _conf_copy(tmp_path)
    file = conf / "base" / "parameters_student_training.yml"
    text = file.read_text(encoding="utf-8")
    assert "    learning_rate: " in text
    lines = [
        "    learning_rate: -0.5" if line.startswith("    learning_rate: ") else line
        for line in text.splitlines()
    ]
    file.write_text("\n".join(lines), encoding="utf-8")
    out = _run("--conf-source", str(conf), module="llm_distillation")
    assert "student_training.training.learning_rate = -0.5: Input should be greater than 0" in out
    assert f"edit: {file}" in out, out


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "type: llm_distillation.kedro_datasets.BenchmarkSourceDataset\n  benchmark: cqa",
            "type: llm_distillation.kedro_datasets.BenchmarkSourceDatset\n  benchmark: cqa",
            "'BenchmarkSourceDatset' not found",
        ),
        ("  format: dsbs_jsonl   ", "  ", "missing 1 required keyword-only argument: 'format'"),
    ],
    ids=["misspelt type", "missing argument"],
)
def test_a_bad_catalog_entry_is_short(tmp_path, old, new, expected):
    conf = _conf_copy(tmp_path)
    catalog = conf / "base" / "catalog.yml"
    text = catalog.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    catalog.write_text(text.replace(old, new, 1), encoding="utf-8")
    out = _run("--pipelines", "ingest", "--conf-source", str(conf))
    assert expected in out and "cqa.source" in out, out
    assert f"edit: {catalog}" in out, out


def test_a_missing_input_folder_is_short(tmp_path):
    missing = tmp_path / "nowhere"
    params = f"shared_data_dir={missing},data_dir={tmp_path}"
    out = _run("--pipelines", "ingest", "--params", params)
    assert str(missing) in out and "shared_data_dir" in out and "globals.yml" in out, out
    assert not (tmp_path / "02_intermediate").exists()


def test_only_known_input_errors_are_shortened():
    from pydantic import BaseModel, PositiveInt, ValidationError

    from llm_distillation.cli import short_message

    assert short_message(RuntimeError("a bug")) is None

    class Block(BaseModel):
        size: PositiveInt

    try:
        try:
            Block(size=0)
        except ValidationError as err:
            raise ImportError("while building the pipelines") from err
    except ImportError as wrapped:  # as find_pipelines(raise_errors=True) wraps it
        message = short_message(wrapped)
    assert message is not None and "Block.size = 0: Input should be greater than 0" in message
