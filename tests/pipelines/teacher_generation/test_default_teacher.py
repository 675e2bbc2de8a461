"""The default teacher (SmolLM2-135M-Instruct, converted from the packaged GGUF) end to end."""

from __future__ import annotations

import polars as pl
import pytest

from ...kedro_session import run_pipelines
from .conftest import copy_ingested

pytestmark = pytest.mark.slow


def test_default_teacher_produces_all_four_kinds(tmp_path, ingested, shared_data, created_backends):
    data_dir = copy_ingested(ingested, tmp_path / "data")
    params = {
        "shared_data_dir": str(shared_data),
        "teacher_generation": {
            "teachers": {
                "smollm2": {
                    "benchmarks": ["cqa"],
                    "examples": {"train": 2, "dev": 0, "test": 0},
                    "decoding": {"max_new_tokens": 16},
                },
                "study": {"benchmarks": []},
            }
        },
    }
    run_pipelines(["teacher_generation"], data_dir, params=params)
    model = data_dir / "06_models" / "teacher" / "smollm2-135m-instruct"
    assert (model / "conversion.json").is_file()
    folder = data_dir / "04_feature" / "teacher_outputs" / "cqa" / "train" / "smollm2"
    frame = pl.read_parquet(sorted(folder.glob("*/shard-*.parquet")))
    counts = dict(frame.group_by("task").len().iter_rows())
    assert counts == {
        "positive_rationale": 2,
        "negative_rationale": 2,
        "counterfactual_rationale": 10,
        "critique": 2,
        "revision": 2,
    }
    assert (frame["generated_tokens"] > 0).all()
    assert (frame["prompt_tokens"] > 100).all()
    assert frame["finish_reason"].is_in(["stop", "length"]).all()
    assert frame.filter(pl.col("task") == "critique")["critique_request"].null_count() == 0
    assert not frame["text"].str.contains("\n").any()  # first line only

    before = {p: p.stat().st_mtime_ns for p in folder.glob("*/*")}
    # one model per save (task group), each freed when its save ended
    assert created_backends and all(b._engine is None for b in created_backends)
    created_backends.clear()
    run_pipelines(["teacher_generation"], data_dir, params=params)
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/*")} == before
    assert not created_backends  # complete shards: the model was not loaded again
