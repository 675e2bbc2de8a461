"""student_training through a KedroSession on a temporary data folder: the study import's
consolidated CQA table (consolidation, tag study_import), a tiny real teacher folder, and two
cells (one per student kind) on a tiny configuration."""

from __future__ import annotations

import json

import polars as pl
import pytest
from kedro.io import Version

from llm_distillation.kedro_datasets.student_model import SUMMARY_FILE, StudentModelDataset
from tests.kedro_session import PROJECT_ROOT, run_pipelines

CELLS = ["cqa_smollm2_shrunk_mt_cf_revised", "cqa_t5_small_standard"]
TINY = {
    "matrix": {
        "benchmarks": ["cqa"],  # the study import's CQA table (the default is e-SNLI)
        "seeds": [0, 1],
        "students": ["smollm2_shrunk", "t5_small"],
        "conditions": ["standard", "mt_cf_revised"],
    },
    "students": {
        "smollm2_shrunk": {"num_layers": 1},
        "t5_small": {"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2},
    },
    "data": {"train": {"n": 6}, "dev": {"n": 3}},
    "training": {
        "max_steps": 2,
        "batch_size": 2,
        "eval_every": 1,
        "checkpoint_every": 1,
        "max_length": 128,  # the chat turn of the decoder-only student: ~30 tokens
        "progress": False,
    },
}
CURVE_COLUMNS = ["cell", "benchmark", "student", "condition", "seed", "step", "split", "metric"]


def _students(folder):
    return StudentModelDataset(filepath=str(folder), version=Version(None, None))


def _versions(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, shared_data, tiny_teacher):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from llm_distillation.teacher.model_artifacts import convert_to_hf

    root = tmp_path_factory.mktemp("student_training")
    bootstrap_project(PROJECT_ROOT)
    runtime = {"data_dir": str(root), "shared_data_dir": str(shared_data)}
    with KedroSession.create(
        project_path=PROJECT_ROOT, runtime_params=runtime, save_on_close=False
    ) as session:
        session.run(pipeline_names=["consolidation"], tags=["study_import"])
    convert_to_hf(tiny_teacher, root / "06_models" / "teacher" / "smollm2-135m-instruct")
    return root


def _train(data_dir, shared_data, **extra):
    matrix = {**TINY["matrix"], **extra.pop("matrix", {})}
    settings = {**TINY, **extra, "matrix": matrix}
    params = {"shared_data_dir": str(shared_data), "student_training": settings}
    return run_pipelines(["student_training"], data_dir, params=params, namespaces=CELLS)


@pytest.mark.slow
def test_one_cell_per_student_kind_saves_versioned_students_and_curves(data_dir, shared_data):
    _train(data_dir, shared_data)
    for cell in CELLS:
        folder = data_dir / "06_models" / "students" / cell
        (version,) = _versions(folder)
        students = _students(folder).load()
        assert sorted(students) == [0, 1]
        for seed, path in students.items():
            files = sorted(p.name for p in (folder / version / cell / f"seed_{seed}").iterdir())
            assert str(path).endswith(f"{version}/{cell}/seed_{seed}")  # a StoredModel
            assert "model.safetensors" in files
            assert "tokenizer.json" in files
            assert not [f for f in files if f.endswith((".bin", ".pt"))]
            summary = json.loads(
                (folder / version / cell / f"seed_{seed}" / SUMMARY_FILE).read_text()
            )
            assert (summary["cell"], summary["seed"], summary["steps"]) == (cell, seed, 2)
            assert summary["best_step"] in (1, 2)
            assert 0.0 <= summary["best_dev"]["accuracy"] <= 1.0
        curves_dir = (
            data_dir / "08_reporting" / "student_training" / cell / "training_curves.parquet"
        )
        (cv,) = _versions(curves_dir)
        curves = pl.read_parquet(curves_dir / cv / "training_curves.parquet")
        assert curves.columns == [*CURVE_COLUMNS, "value"]
        assert set(curves["cell"]) == {cell}
        assert set(curves["seed"]) == {0, 1}
        assert set(curves["split"]) == {"train", "dev"}
        assert {"loss", "accuracy"} <= set(curves.filter(split="dev")["metric"])
        # the finished runs replaced their checkpoints
        ckpt = data_dir / "06_models" / "checkpoints" / cell
        assert not list(ckpt.glob("seed_*/*/checkpoints/*"))
        assert len(list(ckpt.glob("seed_*/*/final/model.safetensors"))) == 2

    # seeds of different runs differ; the preview shows them
    shrunk = _students(data_dir / "06_models" / "students" / CELLS[0])
    preview = shrunk.preview()
    assert [row[0] for row in preview["data"]] == [0, 1]
    assert preview["columns"][:3] == ["seed", "size_mb", "parameters"]


@pytest.mark.slow
def test_a_rerun_reuses_finished_students_and_new_settings_retrain(data_dir, shared_data):
    ckpt = data_dir / "06_models" / "checkpoints" / CELLS[1]
    before = sorted(p.parent.name for p in ckpt.glob("seed_0/*/final"))
    _train(data_dir, shared_data)  # same settings: nothing is trained, a new version is saved
    folder = data_dir / "06_models" / "students" / CELLS[1]
    assert len(_versions(folder)) >= 2
    assert sorted(p.parent.name for p in ckpt.glob("seed_0/*/final")) == before
    _train(data_dir, shared_data, matrix={"seeds": [0]})
    assert sorted(_students(folder).load()) == [0]
    other = {**TINY["training"], "learning_rate": 1e-3}
    _train(data_dir, shared_data, matrix={"seeds": [0]}, training=other)
    after = sorted(p.parent.name for p in ckpt.glob("seed_0/*/final"))
    assert after != before and len(after) == 1  # retrained; the stale run was removed


def test_unknown_student_fails_before_anything_runs(tmp_path, shared_data):
    params = {
        "shared_data_dir": str(shared_data),
        "student_training": {"matrix": {"students": ["smollm2_shrunk", "gpt5"]}},
    }
    with pytest.raises(ValueError, match=r"matrix\.students: unknown students \['gpt5'\]"):
        run_pipelines(["student_training"], tmp_path, params=params, namespaces=CELLS[:1])
    assert not (tmp_path / "06_models").exists()


def _dotlist(prefix, tree):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _dotlist(f"{prefix}{key}.", value)
        else:
            yield f"{prefix}{key}={json.dumps(value) if isinstance(value, bool) else value}"


@pytest.mark.slow
def test_a_killed_kedro_run_resumes_the_cell(data_dir, shared_data):
    """SIGKILL a real `kedro run` of one cell after its first checkpoint; the rerun resumes
    from it (the summary says where) and saves the students."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cell = "cqa_t5_small_mt_unrevised"
    settings = {
        **TINY,
        "matrix": {
            "benchmarks": "[cqa]",
            "seeds": "[0]",
            "students": "[t5_small]",
            "conditions": "[mt_unrevised]",
        },
        "training": {**TINY["training"], "max_steps": 60, "eval_every": 30, "checkpoint_every": 1},
    }
    params = [
        f"data_dir={data_dir}",
        f"shared_data_dir={shared_data}",
        *_dotlist("student_training.", settings),
    ]
    cmd = [sys.executable, "-m", "kedro", "run", "--pipelines", "student_training"]
    cmd += ["--namespaces", cell, "--params", ",".join(params)]
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'src'}{os.pathsep}"}
    store = data_dir / "06_models" / "checkpoints" / cell / "seed_0"
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while not list(store.glob("*/checkpoints/step_*")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before its first checkpoint"
            time.sleep(0.2)
        assert list(store.glob("*/checkpoints/step_*")), "no checkpoint within 240 s"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not _versions(data_dir / "06_models" / "students" / cell)
    subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    (seed0,) = _students(data_dir / "06_models" / "students" / cell).load().values()
    summary = json.loads((PROJECT_ROOT / seed0 / SUMMARY_FILE).read_text())
    assert summary["steps"] == 60
    assert summary["resumed_from"] and 0 < summary["resumed_from"] < 60


@pytest.mark.slow
def test_the_untrained_baseline_is_saved_as_built(data_dir, shared_data):
    import torch
    from safetensors.torch import load_file

    from llm_distillation.training.students import build_student

    cell = "cqa_smollm2_shrunk_untrained"
    matrix = {**TINY["matrix"], "seeds": [0], "students": ["smollm2_shrunk"]}
    matrix["conditions"] = ["untrained"]
    params = {
        "shared_data_dir": str(shared_data),
        "student_training": {**TINY, "matrix": matrix},
    }
    run_pipelines(["student_training"], data_dir, params=params, namespaces=[cell])
    folder = data_dir / "06_models" / "students" / cell
    path = _students(folder).load()[0]
    summary = json.loads((__import__("pathlib").Path(path) / SUMMARY_FILE).read_text())
    assert summary["steps"] == 0 and summary["untrained"] is True
    saved = load_file(f"{path}/model.safetensors")
    teacher = data_dir / "06_models" / "teacher" / "smollm2-135m-instruct"
    built = build_student({"kind": "shrunk_causal", "num_layers": 1}, source=teacher, seed=0)
    state = built.model.state_dict()  # stored in the configured save_dtype
    assert all(torch.equal(state[k].to(v.dtype), v) for k, v in saved.items())


@pytest.mark.slow
def test_keep_checkpoints_and_a_lower_save_precision(data_dir, shared_data):
    from pathlib import Path

    from safetensors import safe_open

    training = {**TINY["training"], "keep_checkpoints": 1, "save_dtype": "bfloat16"}
    _train(data_dir, shared_data, matrix={"seeds": [0]}, training=training)
    cell = CELLS[0]
    path = Path(_students(data_dir / "06_models" / "students" / cell).load()[0])
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.bfloat16"}  # noqa: SIM118
    assert "- stored dtype: bfloat16" in (path / "README.md").read_text()
    summary = json.loads((path / SUMMARY_FILE).read_text())
    assert summary["dtype"] == "bfloat16"
    run = data_dir / "06_models" / "checkpoints" / cell / "seed_0" / summary["fingerprint"]
    assert [p.name for p in (run / "checkpoints").glob("step_*")] == ["step_00000002"]
