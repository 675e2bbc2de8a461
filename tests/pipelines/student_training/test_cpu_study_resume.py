"""The CPU study (``--env cpu_study``) survives being killed: a rerun with
``--only-missing-outputs`` redoes nothing that was finished (students and evaluations keep
their one version), resumes the interrupted student from its last checkpoint, and finishes
every cell. The study's own matrix shape (e-SNLI, the untrained baseline beside trained
conditions, several seeds) on a tiny student and a few steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kedro.io import Version

from llm_distillation.kedro_datasets.student_model import SUMMARY_FILE, StudentModelDataset
from tests.kedro_session import PROJECT_ROOT, run_pipelines

pytestmark = pytest.mark.slow

CONDITIONS = ["untrained", "standard", "mt_unrevised"]
CELLS = [f"esnli_smollm2_135m_{c}" for c in CONDITIONS]
TRAINED = CELLS[1:]
STUDY_TINY = {
    "student_training": {
        "matrix": {"conditions": CONDITIONS, "seeds": [0, 1]},
        "students": {"smollm2_135m": {"num_layers": 1}},  # of the tiny teacher folder
        "data": {"train": {"n": 8}, "dev": {"n": 2}},
        "training": {
            "max_steps": 40,
            "batch_size": 2,
            "eval_every": 20,
            "checkpoint_every": 1,
            "max_length": 160,
            "progress": False,
        },
    },
    "evaluation": {
        "test_examples": 4,
        "explain_examples": 2,
        "bootstrap_resamples": 20,
        "max_new_tokens": {"predict": 4, "explain": 6, "factual": 6, "counterfactual": 4},
        "engine": {"device": "cpu", "dtype": "float32", "batch_size": 4},
        "metrics": {"enabled": ["words", "rouge_l"]},
    },
}


@pytest.fixture
def study_dir(tmp_path, shared_data, tiny_teacher):
    """A data folder with the study import of conf/cpu_study and a tiny teacher folder."""
    from llm_distillation.teacher.model_artifacts import convert_to_hf

    params = {"shared_data_dir": str(shared_data)}
    run_pipelines(
        ["consolidation"], tmp_path, params=params, env="cpu_study", tags=["study_import"]
    )
    convert_to_hf(tiny_teacher, tmp_path / "06_models" / "teacher" / "smollm2-135m-instruct")
    return tmp_path


def _start(data_dir: Path, params: dict, only_missing_outputs: bool) -> subprocess.Popen:
    run = {
        "pipelines": ["student_training", "evaluation"],
        "params": params,
        "env": "cpu_study",
        "only_missing_outputs": only_missing_outputs,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.kedro_session", str(data_dir), json.dumps(run)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"},
    )


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _outputs(data_dir: Path) -> dict[str, list[str]]:
    """Every cell's saved students and accuracy tables: name -> its versions."""
    out = {}
    for cell in CELLS:
        out[f"{cell} student"] = _versions(data_dir / "06_models" / "students" / cell)
        accuracy = data_dir / "08_reporting" / "evaluation" / cell / "accuracy.parquet"
        out[f"{cell} accuracy"] = _versions(accuracy)
    return out


def _interrupted(data_dir: Path) -> str | None:
    """A trained cell with no saved student whose seed is part-way: a step checkpoint, no
    final weights; None while there is none."""
    for cell in TRAINED:
        if _versions(data_dir / "06_models" / "students" / cell):
            continue
        for run in (data_dir / "06_models" / "checkpoints" / cell).glob("seed_*/*"):
            if list(run.glob("checkpoints/step_*")) and not (run / "final").exists():
                return cell
    return None


def test_a_killed_study_resumes_and_redoes_nothing_finished(study_dir, shared_data):
    params = {"shared_data_dir": str(shared_data), **STUDY_TINY}
    proc = _start(study_dir, params, only_missing_outputs=False)
    try:
        deadline = time.monotonic() + 300
        finished, cell = {}, None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            finished = {k: v for k, v in _outputs(study_dir).items() if v}
            cell = _interrupted(study_dir)
            if cell and any(k.endswith("student") for k in finished):
                break
            time.sleep(0.05)
        assert cell and finished, "no finished student beside a part-way one within 300 s"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {k: v for k, v in _outputs(study_dir).items() if v}  # as the kill left them

    proc = _start(study_dir, params, only_missing_outputs=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]
    after = _outputs(study_dir)
    assert all(after.values()), after  # every cell trained and evaluated
    for name, versions in finished.items():  # nothing finished was redone
        assert after[name] == versions, (name, versions, after[name])
    folder = study_dir / "06_models" / "students" / cell
    seeds = StudentModelDataset(filepath=str(folder), version=Version(None, None)).load()
    resumed = [
        json.loads((PROJECT_ROOT / folder / SUMMARY_FILE).read_text()).get("resumed_from")
        for folder in seeds.values()
    ]
    assert sorted(seeds) == [0, 1]
    assert any(r and 0 < r < 40 for r in resumed), resumed  # from its last checkpoint
