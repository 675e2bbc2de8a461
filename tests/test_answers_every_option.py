"""Property: every option of every example in ../shared/data parses back to itself.

The benchmark samples (CommonsenseQA in its CoS-E and official exports, e-SNLI, StrategyQA) and
the study's consolidated tables, each option in the answer forms a student or a teacher writes.
"""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.answers import extract_answers
from llm_distillation.sources.formats import read_benchmark
from llm_distillation.sources.normalize import normalize_raw

STUDY = "llm_outputs/consolidated"
SOURCES = (
    ("cqa", "dsbs_jsonl", {"train": "cqa/cqa_train.json", "test": "cqa/cqa_test.json"}, ""),
    (
        "cqa",
        "cqa_official_jsonl",
        {
            "train": "cqa/official/train_rand_split.jsonl",
            "test": "cqa/official/dev_rand_split.jsonl",
        },
        "",
    ),
    (
        "esnli",
        "dsbs_jsonl",
        {"train": "esnli/esnli_valid.json", "test": "esnli/esnli_test.json"},
        "",
    ),
    (
        "strategyqa",
        "strategyqa_json",
        {"train": "strategyqa/train.json", "test": "strategyqa/dev.json"},
        "",
    ),
    ("cqa", "hf_disk", {"train": "cqa-llama-train", "test": "cqa-llama-test"}, STUDY),
    ("esnli", "hf_disk", {"train": "esnli-llama-train"}, STUDY),
    (
        "strategyqa",
        "hf_disk",
        {"train": "strategyqa-llama-train", "test": "strategyqa-llama-test"},
        STUDY,
    ),
)
FORMS = {
    "The answer is {option}": ("The answer is ", "option", ""),
    "The answer is {option}.": ("The answer is ", "option", "."),
    "So the answer is {option}.": ("So the answer is ", "option", "."),
    "The answer is ({letter})": ("The answer is (", "letter", ")"),
    "So the answer is ({letter}) {option}.": ("So the answer is (", "letter", ") ", "option", "."),
    "({letter})": ("(", "letter", ")"),
}


@pytest.fixture(scope="module")
def options(shared_data):
    """One row per option of every distinct choice list of the three benchmarks."""
    frames = []
    for benchmark, fmt, splits, under in SOURCES:
        examples, rejected = normalize_raw(
            read_benchmark(benchmark, fmt, splits, root=shared_data / under)
        )
        assert rejected.is_empty(), (benchmark, fmt)
        frames.append(examples.select("benchmark", "choices"))
    lists = pl.concat(frames).unique(maintain_order=True)
    return (
        lists.with_columns(opt_idx=pl.int_ranges(pl.col("choices").list.len()))
        .explode("opt_idx")
        .with_columns(option=pl.col("choices").list.get(pl.col("opt_idx")))
        .with_columns(
            letter=pl.col("opt_idx").replace_strict(dict(enumerate("abcde")), default=None)
        )
    )


def test_every_option_of_every_example_parses_back(options):
    assert set(options["benchmark"]) == {"cqa", "esnli", "strategyqa"}
    assert options.height > 12_000
    rows = pl.concat(
        [
            options.with_columns(
                form=pl.lit(form),
                scope=pl.concat_str(
                    [pl.col(p) if p in ("option", "letter") else pl.lit(p) for p in parts]
                ),
            )
            for form, parts in FORMS.items()
        ]
    ).with_columns(row_id=pl.int_range(pl.len(), dtype=pl.Int64))
    out = rows.join(extract_answers(rows), on="row_id")
    # an option listed twice in one question (CoS-E has a few) is right at either position
    wrong = out.filter(
        ~(
            (pl.col("predicted_index") == pl.col("opt_idx"))
            | (pl.col("prediction") == pl.col("option"))
        ).fill_null(False)
    )
    assert wrong.is_empty(), wrong.select("benchmark", "form", "scope", "prediction").head(10)
