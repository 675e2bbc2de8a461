"""Bad training input fails before any model is loaded, naming the setting and the reason."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.training.conditions import NAMED_CONDITIONS, condition_spec
from llm_distillation.training.students import load_tokenizer
from llm_distillation.training.validate import TrainingSetupError, validate_training_setup
from tests.training.helpers import TINY_T5, consolidated_table

SHRUNK = {"kind": "shrunk_causal", "layers": [0, 2]}


def _check(teacher_folder, **kwargs):
    args = {
        "train_table": consolidated_table(8),
        "condition": "mt_cf_revised",
        "student": SHRUNK,
        "source": str(teacher_folder),
    }
    args.update(kwargs)
    return validate_training_setup(**args)


def test_a_good_setup_passes_and_is_parsed(teacher_folder):
    tok = load_tokenizer(teacher_folder)
    cond, spec, cfg = _check(teacher_folder, training={"max_steps": 5}, tokenizer=tok)
    assert cond.label == "MT+CF:Revised" and spec.layers == (0, 2) and cfg.max_steps == 5
    _check(teacher_folder, student=TINY_T5, condition={"name": "mt_cf_revised", "gamma": 0.7})


def test_named_conditions_have_stable_keys_and_study_labels():
    labels = {k: c.label for k, c in NAMED_CONDITIONS.items()}
    assert labels == {
        "standard": "Standard",
        "cf_unrevised": "CF:Unrevised",
        "mt_unrevised": "MT:Unrevised",
        "mt_cf_unrevised": "MT+CF:Unrevised",
        "mt_cf_revised": "MT+CF:Revised",
        "untrained": "Untrained",
    }
    assert condition_spec({"name": "mt_cf_revised", "gamma": 0.7}).gamma == 0.7


def test_empty_training_table(teacher_folder):
    with pytest.raises(TrainingSetupError, match=r"training table is empty"):
        _check(teacher_folder, train_table=consolidated_table(8).clear())


def test_missing_or_empty_rationale_column(teacher_folder):
    table = consolidated_table(8)
    with pytest.raises(
        TrainingSetupError, match=r"rationale revised.*no column 'few_shot_revision'"
    ):
        _check(teacher_folder, train_table=table.drop("few_shot_revision"))
    _check(teacher_folder, train_table=table.drop("few_shot_revision"), condition="mt_cf_unrevised")
    empty = table.with_columns(few_shot_positive_rationale=pl.lit(None, pl.String))
    with pytest.raises(
        TrainingSetupError, match=r"'few_shot_positive_rationale' is empty in all 8"
    ):
        _check(teacher_folder, train_table=empty, condition="mt_unrevised")
    no_cf = table.drop([c for c in table.columns if c.startswith("counterfactual_")])
    with pytest.raises(TrainingSetupError, match=r"no counterfactual rationale column"):
        _check(teacher_folder, train_table=no_cf, condition="cf_unrevised")


CF_COLUMNS = [f"counterfactual_prompt_answer_{i}_rationale" for i in range(1, 6)]


@pytest.mark.parametrize(
    ("condition", "key", "drop", "message"),
    [
        # no counterfactual rationale column: the counterfactual views (and, on CQA, the
        # MT+CF factual target) cannot be built
        (
            "mt_cf_unrevised",
            None,
            CF_COLUMNS,
            r"condition 'mt_cf_unrevised' \(MT\+CF:Unrevised; .*factual_rationale counterfactual\)"
            r" on benchmark 'cqa': the training table has no counterfactual rationale column "
            r"'counterfactual_prompt_answer_1_rationale' .*needed for the counterfactual views "
            r"and for the factual view's target",
        ),
        # one option's column is missing: CQA has five
        (
            "cf_unrevised",
            None,
            CF_COLUMNS[4:],
            r"condition 'cf_unrevised' \(CF:Unrevised.* on benchmark 'cqa': .*no counterfactual "
            r"rationale column 'counterfactual_prompt_answer_5_rationale' \(cqa has 5 options",
        ),
        # a factual_rationale kind the table lacks
        (
            {"name": "cf_unrevised", "factual_rationale": "revised", "label": None},
            "cf_revised_factual",
            ["few_shot_revision"],
            r"condition 'cf_revised_factual' \(mode cf, rationale unrevised; factual_rationale "
            r"revised\) on benchmark 'cqa': the training table has no column 'few_shot_revision' "
            r"\(needed for the factual view's target: factual_rationale revised\)",
        ),
        (
            "mt_cf_revised",
            None,
            ["few_shot_revision"],
            r"condition 'mt_cf_revised' \(MT\+CF:Revised.*on benchmark 'cqa': .*no column "
            r"'few_shot_revision' \(needed for the explain view's target: revised rationales\)",
        ),
    ],
)
def test_a_condition_that_cannot_be_built_names_condition_benchmark_and_column(
    teacher_folder, condition, key, drop, message
):
    table = consolidated_table(8).drop(drop)
    with pytest.raises(TrainingSetupError, match=message):
        _check(
            teacher_folder,
            train_table=table,
            condition=condition,
            condition_key=key,
            benchmark="cqa",
        )


def test_the_benchmark_decides_the_factual_rationale(teacher_folder):
    """MT+CF's factual target is the gold option's counterfactual rationale on CQA only (the
    study's cqa.py); e-SNLI and StrategyQA use the condition's own kind."""
    table = consolidated_table(8)
    cond, _, _ = _check(teacher_folder, condition="mt_cf_revised", benchmark="cqa")
    assert cond.factual_rationale == "counterfactual"
    for benchmark in ("esnli", "strategyqa"):
        renamed = table.with_columns(benchmark=pl.lit(benchmark))
        cond, _, _ = _check(teacher_folder, train_table=renamed, condition="mt_cf_revised")
        assert cond.factual_rationale is None
    # the benchmark is read from the table when not given
    with pytest.raises(TrainingSetupError, match=r"on benchmark 'cqa'.*'few_shot_revision'"):
        _check(teacher_folder, train_table=table.drop("few_shot_revision"))
    # an explicit factual_rationale is kept on every benchmark
    own = {"name": "mt_cf_unrevised", "factual_rationale": "unrevised"}
    cond, _, _ = _check(teacher_folder, condition=own, benchmark="cqa")
    assert cond.factual_rationale == "unrevised"


def test_the_training_node_fails_naming_the_cell_before_any_model_loads(teacher_folder):
    from llm_distillation.pipelines.student_training.matrix import Cell
    from llm_distillation.pipelines.student_training.nodes import build_training_views

    params = {
        "matrix": {
            "benchmarks": ["cqa"],
            "students": ["tiny"],
            "conditions": ["mt_cf_unrevised"],
            "seeds": [0],
        },
        "students": {"tiny": TINY_T5},
        "training": {"batch_size": 2},
    }
    table = consolidated_table(8)
    no_cf = table.drop(CF_COLUMNS)
    cell = Cell("cqa", "tiny", "mt_cf_unrevised", (0,))
    with pytest.raises(
        TrainingSetupError,
        match=r"student_training \(cqa_tiny_mt_cf_unrevised\): condition 'mt_cf_unrevised' "
        r"\(MT\+CF:Unrevised.*on benchmark 'cqa': .*'counterfactual_prompt_answer_1_rationale'",
    ):
        build_training_views(no_cf, no_cf, str(teacher_folder), params, cell=cell)
    train, _ = build_training_views(table, table, str(teacher_folder), params, cell=cell)
    factual = train.filter(pl.col("view") == "factual").row(0, named=True)
    row = table.filter(pl.col("example_id") == factual["example_id"]).row(0, named=True)
    gold_cf = row[CF_COLUMNS[row["answer_index"]]]
    assert factual["target"] == f"{gold_cf} So the answer is {row['answer']}."


def test_unknown_student_or_condition(teacher_folder):
    with pytest.raises(TrainingSetupError, match=r"student.kind: unknown student kind 'gpt'"):
        _check(teacher_folder, student={"kind": "gpt"})
    with pytest.raises(
        TrainingSetupError, match=r"condition: unknown condition 'mt_cf_x'.*allowed"
    ):
        _check(teacher_folder, condition="mt_cf_x")
    with pytest.raises(TrainingSetupError, match=r"condition.mode: unknown mode 'distill'"):
        _check(teacher_folder, condition={"mode": "distill"})
    with pytest.raises(TrainingSetupError, match=r"student.d_modle"):
        _check(teacher_folder, student={**TINY_T5, "d_modle": 3})


@pytest.mark.parametrize("weight", ["alpha", "beta", "gamma"])
def test_weights_outside_the_unit_interval(teacher_folder, weight):
    for bad in (-0.1, 1.5):
        with pytest.raises(
            TrainingSetupError,
            match=rf"condition.{weight}: .*less than or equal|"
            f"condition.{weight}: .*greater than or equal",
        ):
            _check(teacher_folder, condition={"mode": "mt_cf", weight: bad})


def test_missing_student_folder(teacher_folder, tmp_path):
    with pytest.raises(TrainingSetupError, match=r"student.folder: .*does not exist"):
        _check(teacher_folder, source=str(tmp_path / "nowhere"))


def test_tokenizer_without_eos_or_with_mostly_unknown_tokens(teacher_folder):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"<unk>": 0, "the": 1, "</s>": 2}, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    unk_heavy = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", eos_token="</s>")
    with pytest.raises(TrainingSetupError, match=r"target tokens are unknown.*cannot encode"):
        _check(teacher_folder, tokenizer=unk_heavy)
    no_eos = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>")
    with pytest.raises(TrainingSetupError, match=r"has no EOS token"):
        _check(teacher_folder, tokenizer=no_eos)


def test_a_training_set_smaller_than_one_step(teacher_folder):
    with pytest.raises(TrainingSetupError, match=r"training: batch_size × grad_accumulation = 16"):
        _check(
            teacher_folder,
            train_table=consolidated_table(3),
            condition="mt_unrevised",
            training={"batch_size": 8, "grad_accumulation": 2},
        )
    with pytest.raises(TrainingSetupError, match=r"= 4 source examples .* only 3 rows"):
        _check(teacher_folder, train_table=consolidated_table(3), training={"batch_size": 4})
    _check(teacher_folder, train_table=consolidated_table(3), training={"batch_size": 3})
