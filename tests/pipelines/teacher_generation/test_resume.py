"""Kill a real generation run part-way, resume it, and get exactly the uninterrupted output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from llm_distillation.teacher.sharding import ShardStore

from ...conftest import PROJECT_ROOT
from .conftest import copy_ingested

pytestmark = pytest.mark.slow

TASKS = 5
EXAMPLES = 4


def _params(model: Path, shared: Path) -> dict:
    return {
        "shared_data_dir": str(shared),
        "teacher_generation": {
            "sharding": {"shard_size": 1},
            "teachers": {
                "smollm2": {
                    "use_teacher_model": False,
                    "options": {"model": str(model), "batch_size": 4, "max_context": 1024},
                    "decoding": {"max_new_tokens": 8},
                    "benchmarks": ["cqa"],
                    "examples": {"train": EXAMPLES, "dev": 0, "test": 0},
                },
            },
        },
    }


def _start(data_dir: Path, params: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.kedro_session",
            str(data_dir),
            json.dumps({"pipelines": ["teacher_generation"], "params": params}),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"},
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def _outputs(data_dir: Path) -> pl.DataFrame:
    store = ShardStore(data_dir / "04_feature" / "teacher_outputs" / "cqa" / "train")
    return store.scan().collect().sort("teacher", "task", "example_id", "option_index")


def test_kill_and_resume_equals_uninterrupted(tmp_path, ingested, tiny_teacher, shared_data):
    params = _params(tiny_teacher, shared_data)
    killed = copy_ingested(ingested, tmp_path / "killed")
    shards = killed / "04_feature" / "teacher_outputs" / "cqa" / "train" / "smollm2"

    proc = _start(killed, params)
    deadline = time.monotonic() + 300
    while not list(shards.glob("*/*.manifest.json")):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no shard was written"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(shards.glob("*/*.manifest.json")))
    assert 1 <= done_at_kill < TASKS * EXAMPLES  # killed part-way

    _finish(_start(killed, params))  # resume
    full = copy_ingested(ingested, tmp_path / "full")
    _finish(_start(full, params))  # uninterrupted

    resumed, reference = _outputs(killed), _outputs(full)
    assert resumed.equals(reference)
    keys = ["task", "example_id", "option_index"]
    assert resumed.select(keys).is_unique().all()  # no duplicated example
    per_task = resumed.group_by("task").agg(pl.col("example_id").n_unique())
    assert set(per_task["example_id"]) == {EXAMPLES}  # no missing example
    assert resumed.filter(pl.col("task") == "counterfactual_rationale").height == 5 * EXAMPLES
    assert not list(shards.glob("*/.*.tmp"))  # no temporary file left behind
