"""The named conditions train the study's targets, benchmark by benchmark (docs/study_parity.md).

For one real row of each of the study's consolidated tables (CommonsenseQA, e-SNLI, StrategyQA;
Llama-2 teacher), every named condition builds exactly the views below: the study's templates
(``src/dataloaders/{cqa,esnli,strategyqa}.py`` of DanielHendriks/llm-distillation) with our
documented differences (no target prefixes, our task text, every wrong option, answer-only
loss on the counterfactual view). The substance is which text each target carries:

- predict: ``The answer is <gold>``;
- explain: the condition's rationale (positive, or revised for MT+CF:Revised);
- factual: CF:Unrevised the positive rationale on every benchmark; MT+CF on CommonsenseQA the
  gold option's counterfactual-prompt rationale (cqa.py's ``both`` mode), on e-SNLI and
  StrategyQA the condition's own rationale (positive / revised);
- counterfactual: each wrong option's counterfactual rationale -> that option.
"""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.consolidation.merge import consolidate
from llm_distillation.training.conditions import NAMED_CONDITIONS, for_benchmark
from llm_distillation.training.examples import condition_view_table

STUDY_TASKS = ("positive_rationale", "counterfactual_rationale", "revision")
POS, REV = "few_shot_positive_rationale", "few_shot_revision"


def _cf(i: int) -> str:
    return f"counterfactual_prompt_answer_{i + 1}_rationale"


@pytest.fixture(scope="module")
def rows(study_slices):
    """benchmark -> the first consolidated row of the study's table with every text usable."""
    out = {}
    for benchmark, teacher, split in (
        ("cqa", "llama", "test"),
        ("esnli", "llama", "train"),
        ("strategyqa", "llama", "test"),
    ):
        examples, long = study_slices[benchmark, teacher, split]
        table = consolidate(
            long.lazy(), examples, benchmark=benchmark, split=split, required_tasks=STUDY_TASKS
        ).table
        texts = [POS, REV, *(c for c in table.columns if c.startswith("counterfactual_prompt"))]
        usable = pl.all_horizontal(pl.col(c).str.strip_chars().str.len_chars() > 0 for c in texts)
        out[benchmark] = table.filter(usable).head(1)
    return out


def _task(row: dict) -> str:
    choices = " ".join(f"({'abcde'[i]}) {c}" for i, c in enumerate(row["choices"]))
    if row["premise"] is not None:
        return f"Premise: {row['premise']}\nHypothesis: {row['hypothesis']}\nChoices: {choices}"
    return f"Question: {row['question']}\nChoices: {choices}"


def _expected(benchmark: str, key: str, row: dict) -> dict[tuple[str, int], tuple[str, str]]:
    """(view, option) -> (input, target): the study's targets of ``key`` on ``benchmark``."""
    task, gold, g = _task(row), row["answer"], row["answer_index"]
    explain = {"mt_unrevised": POS, "mt_cf_unrevised": POS, "mt_cf_revised": REV}
    factual = {  # the study's factual rationale, benchmark by benchmark
        "cqa": {"cf_unrevised": POS, "mt_cf_unrevised": _cf(g), "mt_cf_revised": _cf(g)},
        "esnli": {"cf_unrevised": POS, "mt_cf_unrevised": POS, "mt_cf_revised": REV},
        "strategyqa": {"cf_unrevised": POS, "mt_cf_unrevised": POS, "mt_cf_revised": REV},
    }[benchmark]
    out = {}
    if key in ("standard", "mt_unrevised", "mt_cf_unrevised", "mt_cf_revised"):
        out["predict", g] = (f"[predict] {task}", f"The answer is {gold}")
    if key in explain:
        out["explain", g] = (f"[explain] {task}", row[explain[key]])
    if key in factual:
        out["factual", g] = (f"[factual] {task}", f"{row[factual[key]]} So the answer is {gold}.")
        for i, option in enumerate(row["choices"]):
            if i != g:
                out["counterfactual", i] = (
                    f"[counterfactual] {task}\nRationale: {row[_cf(i)]}",
                    f"So the answer is {option}.",
                )
    return out


@pytest.mark.parametrize("benchmark", ["cqa", "esnli", "strategyqa"])
@pytest.mark.parametrize("key", list(NAMED_CONDITIONS))
def test_named_conditions_build_the_studys_targets(rows, benchmark, key):
    table = rows[benchmark]
    assert table.height == 1, f"no {benchmark} row with every text"
    row = table.row(0, named=True)
    views = condition_view_table(table, for_benchmark(NAMED_CONDITIONS[key], benchmark))
    got = {(v["view"], v["option_index"]): (v["input"], v["target"]) for v in views.to_dicts()}
    assert got == _expected(benchmark, key, row)


def test_cqa_mt_cf_factual_is_not_the_positive_rationale(rows):
    """The CQA row's gold counterfactual rationale and positive rationale differ, so the
    parity test above tells the two apart."""
    row = rows["cqa"].row(0, named=True)
    assert row[_cf(row["answer_index"])] != row[POS]


def test_strategyqa_counterfactual_is_the_wrong_answers_rationale(rows):
    """The study's strategyqa.py pairs the gold answer's rationale with the wrong label
    (``counterfactual_prompt_answer_1`` = "yes" when the gold is yes); ours pairs the
    rationale written for the wrong answer with it."""
    row = rows["strategyqa"].row(0, named=True)
    views = condition_view_table(rows["strategyqa"], NAMED_CONDITIONS["cf_unrevised"])
    cf = views.filter(pl.col("view") == "counterfactual").row(0, named=True)
    wrong = 1 - row["answer_index"]
    assert row["choices"] == ["yes", "no"]
    assert cf["option_index"] == wrong
    assert cf["input"].endswith(f"\nRationale: {row[_cf(wrong)]}")
    assert cf["target"] == f"So the answer is {row['choices'][wrong]}."
