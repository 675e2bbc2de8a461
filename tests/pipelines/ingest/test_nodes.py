"""Seeded subsampling, dev carving and the rejection gate."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.errors import TooManyRejectionsError
from llm_distillation.pipelines.ingest.nodes import enforce_rejection_limit, split_examples
from llm_distillation.sampling import take_seeded
from llm_distillation.schema import empty_rejections
from llm_distillation.sources.formats import read_benchmark
from llm_distillation.sources.normalize import normalize_raw


@pytest.fixture(scope="module")
def cqa(shared_data):
    examples, _ = normalize_raw(
        read_benchmark(
            "cqa",
            "dsbs_jsonl",
            {"train": "cqa/cqa_train.json", "test": "cqa/cqa_test.json"},
            root=shared_data,
        )
    )
    return examples


def test_take_seeded_is_deterministic_nested_and_order_independent(cqa):
    a, rest = take_seeded(cqa, n=100, seed=3)
    b, _ = take_seeded(cqa.reverse(), n=100, seed=3)
    assert a.height == 100 and rest.height == cqa.height - 100
    assert set(a["example_id"]) == set(b["example_id"])
    bigger, _ = take_seeded(cqa, n=200, seed=3)
    assert set(a["example_id"]) <= set(bigger["example_id"])
    other, _ = take_seeded(cqa, n=100, seed=4)
    assert set(other["example_id"]) != set(a["example_id"])
    position = {e: i for i, e in enumerate(cqa["example_id"])}
    assert [position[e] for e in a["example_id"]] == sorted(position[e] for e in a["example_id"])
    frac, _ = take_seeded(cqa, fraction=0.25, seed=0)
    assert frac.height == round(cqa.height * 0.25)


def test_split_carves_dev_from_train_only(cqa):
    params = {
        "seed": 0,
        "dev_fraction": 0.1,
        "benchmarks": {"cqa": {"train": {"n": 500}, "test": {"fraction": 0.5}}},
    }
    train, dev, test = split_examples(cqa, params)
    assert (train.height, dev.height) == (450, 50)
    assert test.height == 611  # round half up: floor(610.5 + 0.5)
    assert set(dev["split"]) == {"dev"} and set(train["split"]) == {"train"}
    assert not set(dev["example_id"]) & set(train["example_id"])
    all_test = set(cqa.filter(pl.col("split") == "test")["example_id"])
    assert set(test["example_id"]) <= all_test
    assert not (set(train["example_id"]) | set(dev["example_id"])) & all_test
    again = split_examples(cqa, params)
    assert all(x.equals(y) for x, y in zip((train, dev, test), again, strict=True))


def test_source_dev_split_is_kept(cqa):
    with_dev = cqa.with_columns(
        split=pl.when(pl.col("split") == "test").then(pl.lit("dev")).otherwise("split")
    )
    train, dev, test = split_examples(with_dev, {"dev_fraction": 0.1})
    assert (train.height, dev.height, test.height) == (1000, 1221, 0)


def test_rejection_gate(cqa):
    rejected = pl.DataFrame(
        [
            {
                "benchmark": "cqa",
                "split": "train",
                "source_file": "x/cqa_train.json",
                "source_row": 17,
                "example_id": "abc",
                "field": "answer",
                "reason": "not one of",
            }
        ],
        schema=empty_rejections().schema,
    )
    with pytest.raises(TooManyRejectionsError) as err:
        enforce_rejection_limit(cqa, rejected, {"max_rejected_share": 0.0})
    message = str(err.value)
    assert "1 of 2222 rows rejected" in message
    assert "x/cqa_train.json row 17 field 'answer'" in message
    assert "cqa.rejected_examples" in message
    assert enforce_rejection_limit(cqa, rejected, {"max_rejected_share": 0.01}) is cqa
    assert enforce_rejection_limit(cqa, empty_rejections(), {}) is cqa
