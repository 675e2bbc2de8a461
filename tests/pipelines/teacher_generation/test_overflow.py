"""Over-long prompts with a real (tiny) model: truncated or rejected, and counted either way."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.pipelines.teacher_generation.params import validate
from llm_distillation.teacher.generate import build_jobs
from llm_distillation.teacher.sharding import ShardStore, run_jobs

from ...conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

MAX_CONTEXT = 160
MAX_NEW = 8


def _examples(ingested) -> pl.DataFrame:
    path = sorted((ingested / "03_primary" / "cqa" / "train.parquet").glob("*/*"))[-1]
    return pl.read_parquet(path)


def _config(model, overflow: str):
    import yaml

    prompts = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_teacher_prompts.yml").read_text()
    )
    params = {
        "sharding": {"shard_size": 2},
        "teachers": {
            "tiny": {
                "backend": "transformers",
                "options": {
                    "model": str(model),
                    "max_context": MAX_CONTEXT,
                    "prompt_overflow": overflow,
                    "batch_size": 4,
                },
                "decoding": {"max_new_tokens": MAX_NEW},
                "tasks": ["positive_rationale"],
                "benchmarks": ["cqa"],
                "examples": {"train": 2},
            }
        },
    }
    return validate(params, prompts["teacher_prompts"])


@pytest.mark.parametrize("overflow", ["truncate_demos", "reject"])
def test_overflow_is_flagged_and_counted(tmp_path, ingested, tiny_teacher, overflow):
    cfg, prompts = _config(tiny_teacher, overflow)
    jobs = build_jobs(_examples(ingested), cfg, prompts, tasks=["positive_rationale"])
    store = ShardStore(tmp_path)
    run_jobs(store, jobs, tasks=["positive_rationale"])
    rows = store.scan().collect()
    stats = store.stats()
    assert rows.height == 2
    if overflow == "truncate_demos":
        assert rows["prompt_truncated"].all()
        assert (rows["prompt_tokens"] <= MAX_CONTEXT - MAX_NEW).all()
        assert (rows["generated_tokens"] > 0).all()
        assert stats["prompt_truncations"].sum() == 2
    else:
        assert (rows["finish_reason"] == "error").all()
        assert rows["is_empty"].all()  # kept, flagged, not replaced
        assert stats["prompt_rejections"].sum() == 2
        assert stats["errors"].sum() == 2
