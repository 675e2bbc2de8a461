"""The evaluation pipeline: construction from the matrix, parameters, and its nodes end to end
on tiny students of three conditions (through the generation engine)."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.pipelines import validate_parameters
from llm_distillation.pipelines.evaluation import nodes
from llm_distillation.pipelines.evaluation.pipeline import create_pipeline
from llm_distillation.pipelines.student_training.matrix import Cell


def _no_options():
    from llm_distillation.evaluation.predictions import PREDICTION_SCHEMA

    return pl.DataFrame(schema=PREDICTION_SCHEMA)


CELLS = [Cell("cqa", "tiny", c, (0, 1)) for c in ("standard", "cf_unrevised", "mt_cf_revised")]


@pytest.fixture
def matrix():
    return CELLS


def test_one_namespace_per_cell_and_stacking_outside(matrix):
    study = {"student_training": {"data": {"source": "study"}}}
    pipeline = create_pipeline(cells=matrix, parameters=study)
    names = {n.name for n in pipeline.nodes}
    for cell in matrix:
        ns = cell.namespace
        assert f"{ns}.generate_outputs" in names and f"{ns}.score_explanations" in names
        cell_part = pipeline.only_nodes_with_namespaces([ns])
        assert cell_part.inputs() == {
            "study_cqa.consolidated_test",
            f"{ns}.student_model",
            "params:evaluation",
            "params:student_training",
        }
        assert {
            f"{ns}.predictions",
            f"{ns}.accuracy",
            f"{ns}.explanations",
        } <= cell_part.all_outputs()
    assert {
        "evaluation.predictions_all",
        "evaluation.accuracy_all",
        "evaluation.metrics_all",
        "evaluation.metric_summary_all",
        "evaluation.teacher_accuracy",
        "evaluation.rating_sheet",
        "evaluation.rating_key",
    } <= pipeline.outputs()
    stack = next(n for n in pipeline.nodes if n.name == "evaluation_stack_accuracy")
    assert stack.inputs == [f"{c.namespace}.accuracy" for c in matrix]
    assert "evaluation.skipped_metrics_all" in pipeline.outputs()


def test_a_benchmark_on_the_ingest_test_split():
    """``evaluation.test_tables: {esnli: ingest}``: e-SNLI cells read ``esnli.test_examples``;
    the teacher accuracy reads the consolidated test tables only."""
    cells = [Cell("cqa", "tiny", "mt_cf_unrevised", (0,)), Cell("esnli", "tiny", "standard", (0,))]
    params = {
        "student_training": {"data": {"source": "study"}},
        "evaluation": {"test_tables": {"esnli": "ingest"}},
    }
    pipeline = create_pipeline(cells=cells, parameters=params)
    esnli = pipeline.only_nodes_with_namespaces([cells[1].namespace])
    assert "esnli.test_examples" in esnli.inputs()
    assert "study_esnli.consolidated_test" not in pipeline.inputs()
    teacher = next(n for n in pipeline.nodes if n.name == "evaluation_teacher_accuracy")
    assert teacher.inputs == ["params:evaluation", "study_cqa.consolidated_test"]
    with pytest.raises(ValueError, match=r"evaluation.test_tables.*unknown benchmarks \['snli'\]"):
        validate_parameters({"evaluation": {"test_tables": {"snli": "ingest"}}})


def test_catalog_factories_resolve_every_cell_dataset(matrix, project_root):
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    loader = OmegaConfigLoader(str(project_root / "conf"), base_env="base", default_run_env="base")
    catalog = DataCatalog.from_config(loader["catalog"])
    ns = matrix[0].namespace
    for name in ("generations", "predictions", "explanations"):
        assert f"/07_model_output/evaluation/{ns}/{name}.parquet" in str(
            catalog.get(f"{ns}.{name}")._describe()["filepath"]
        )
    for name in ("accuracy", "explanation_metrics", "metric_summary"):
        assert "/08_reporting/evaluation/" in str(
            catalog.get(f"{ns}.{name}")._describe()["filepath"]
        )
    assert "rating_sheet.csv" in str(catalog.get("evaluation.rating_sheet")._describe()["filepath"])


def test_parameters_are_strict_and_name_the_setting():
    validate_parameters({"evaluation": {}})
    with pytest.raises(ValueError, match=r"evaluation.metrics.enabled.*unknown metrics \['bleu'\]"):
        validate_parameters({"evaluation": {"metrics": {"enabled": ["words", "bleu"]}}})
    with pytest.raises(ValueError, match=r"evaluation.test_examples"):
        validate_parameters({"evaluation": {"test_examples": 0}})
    with pytest.raises(ValueError, match=r"evaluation.engine.batch"):
        validate_parameters({"evaluation": {"engine": {"batch": 4}}})


def test_sample_is_seeded_and_explained_ids_are_a_subset(cqa_test_table):
    params = {"test_examples": 10, "explain_examples": 4, "seed": 3}
    sample, ids = nodes.select_examples(cqa_test_table.lazy(), params, TRAINING)
    again, ids2 = nodes.select_examples(cqa_test_table, params, TRAINING)
    assert sample.height == 10 and len(ids) == 4 and ids == ids2
    assert set(ids) <= set(sample["example_id"]) and sample.equals(again)


def _training(**data) -> dict:
    """A valid ``params:student_training`` (the study's named conditions) with ``data``."""
    return {
        "matrix": {
            "benchmarks": ["cqa"],
            "students": ["tiny"],
            "conditions": ["standard"],
            "seeds": [0],
        },
        "students": {"tiny": {"kind": "shrunk_causal", "num_layers": 2}},
        "data": data,
    }


TRAINING = _training()


@pytest.fixture(scope="module")
def cell_outputs(cqa_test_table, tiny_students):
    """The per-cell nodes of three conditions on a tiny Llama student (two seeds)."""
    params = {
        "test_examples": 6,
        "explain_examples": 6,
        "bootstrap_resamples": 100,
        "max_new_tokens": {"predict": 4, "explain": 8, "factual": 8, "counterfactual": 4},
        "engine": {"device": "cpu", "dtype": "float32", "batch_size": 8},
        "metrics": {
            "enabled": ["words", "distractors", "rouge_l", "probe_consistency", "cf_faithfulness"]
        },
    }
    students = {0: tiny_students["llama"][0], 1: tiny_students["llama"][0]}
    sample, ids = nodes.select_examples(cqa_test_table, params, TRAINING)
    out = {}
    for cell in CELLS:
        names = {
            "cell": cell.namespace,
            "benchmark": cell.benchmark,
            "student": cell.student,
            "condition": cell.condition,
        }
        cond = cell.condition
        generations = nodes.generate_outputs(students, sample, ids, params, TRAINING, **names)
        predictions = nodes.score_predictions(generations, sample, TRAINING, condition=cond)
        accuracy = nodes.compute_accuracy(
            predictions, _no_options(), params, TRAINING, condition=cond
        )
        explanations = nodes.collect_explanations(
            generations, predictions, sample, ids, TRAINING, condition=cond
        )
        metrics, summary = nodes.score_explanations(
            explanations, predictions, params, TRAINING, condition=cond
        )
        out[cond] = (generations, predictions, accuracy, explanations, metrics, summary)
    return params, cqa_test_table, out


def test_cells_produce_predictions_accuracy_explanations_and_metrics(cell_outputs):
    _, _, out = cell_outputs
    gens, _, acc, expl, metrics, summary = out["standard"]
    assert set(gens["view"]) == {"predict"} and expl.is_empty() and metrics.is_empty()
    assert acc.height == 2 and acc["primary"].all()  # two seeds, one view
    gens, _, acc, expl, metrics, summary = out["cf_unrevised"]
    assert set(gens["view"]) >= {"factual", "counterfactual"}
    assert acc.filter(pl.col("primary"))["view"].unique().to_list() == ["factual"]
    assert set(expl["explanation_view"]) == {"factual"}
    gens, _, acc, expl, metrics, summary = out["mt_cf_revised"]
    assert set(acc["view"]) == {"predict", "factual"}
    assert acc.filter(pl.col("primary"))["view"].unique().to_list() == ["predict"]
    assert expl.height == 12 and set(expl["explanation_view"]) == {"explain"}
    assert {"words", "distractors", "rouge_l", "cf_faithfulness"} <= set(metrics["metric"])
    assert set(summary["metric"]) == set(metrics["metric"])
    for row in acc.iter_rows(named=True):
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]


def test_stacked_tables_have_reportings_columns(cell_outputs):
    params, table, out = cell_outputs
    preds = nodes.stack_predictions(*(o[1] for o in out.values()))
    assert preds.columns[:6] == [
        "example_id",
        "benchmark",
        "student",
        "condition",
        "seed",
        "correct",
    ]
    assert preds.height == 3 * 2 * 6  # cells × seeds × examples, primary view only
    acc = nodes.stack_accuracy(*(o[2] for o in out.values()))
    assert acc.columns[:7] == [
        "benchmark",
        "student",
        "condition",
        "seed",
        "accuracy",
        "ci_low",
        "ci_high",
    ]
    assert acc.height == 6
    metrics, _ = nodes.stack_metrics(*(x for o in out.values() for x in (o[4], o[5])))
    assert metrics.columns[:7] == [
        "example_id",
        "benchmark",
        "student",
        "condition",
        "seed",
        "metric",
        "value",
    ]
    sheet, key = nodes.export_ratings(params, TRAINING, *(o[3] for o in out.values()))
    assert sheet.height == key.height <= 2 * 2 * 4
    assert set(key["model"]) <= {"CF:Unrevised", "MT+CF:Revised"}
    teacher = nodes.teacher_answer_accuracy(params, table.lazy())
    assert set(teacher["kind"]) == {"positive", "revised"}


SMALL = {
    "test_examples": None,
    "explain_examples": 8,
    "bootstrap_resamples": 100,
    "max_new_tokens": {"predict": 4, "explain": 8, "factual": 8, "counterfactual": 4},
    "engine": {"device": "cpu", "dtype": "float32", "batch_size": 8},
    "metrics": {
        "enabled": ["words", "distractors", "rouge_l", "probe_consistency", "cf_faithfulness"]
    },
}


def _run_cell(table, students, training, condition, *, benchmark, table_name="test"):
    names = {"cell": f"{benchmark}_tiny_{condition}", "benchmark": benchmark, "student": "tiny"}
    sample, ids = nodes.select_examples(table, SMALL, training, table_name=table_name)
    gens = nodes.generate_outputs(
        students, sample, ids, SMALL, training, **names, condition=condition
    )
    preds = nodes.score_predictions(gens, sample, training, condition=condition)
    acc = nodes.compute_accuracy(preds, _no_options(), SMALL, training, condition=condition)
    skipped = nodes.record_skipped_metrics(sample, SMALL, training, **names, condition=condition)
    expl = nodes.collect_explanations(gens, preds, sample, ids, training, condition=condition)
    metrics, summary = nodes.score_explanations(
        expl, preds, SMALL, training, skipped, condition=condition
    )
    return sample, gens, acc, skipped, metrics, summary


@pytest.mark.parametrize("teachers", [["qwen"], None])
def test_a_two_teacher_test_table_counts_every_example_once(
    strategyqa_two_teachers, tiny_students, teachers
):
    """The study's StrategyQA test has a llama and a qwen row of every question: accuracy ``n``
    is the number of questions, and the probes carry the trained teacher's rationales."""
    training = _training(teachers=teachers)
    students = {0: tiny_students["llama"][0]}
    sample, gens, acc, skipped, metrics, _ = _run_cell(
        strategyqa_two_teachers, students, training, "mt_cf_unrevised", benchmark="strategyqa"
    )
    examples = strategyqa_two_teachers["example_id"].n_unique()
    assert sample.height == examples == 8
    assert set(acc["n"]) == {examples}  # predict (all) and factual (the 8 explained) views
    assert gens.filter(pl.col("view") == "predict").height == examples
    teacher = teachers[0] if teachers else "llama"  # null: the alphabetically first teacher
    rationales = strategyqa_two_teachers.filter(pl.col("teacher") == teacher)
    cf = gens.filter(pl.col("view") == "counterfactual")
    columns = [f"counterfactual_prompt_answer_{i}_rationale" for i in (1, 2)]
    texts = {t.strip() for c in columns for t in rationales[c].drop_nulls()}
    assert cf.height > 0
    assert all(p.split("\nRationale: ", 1)[1] in texts for p in cf["prompt"])
    assert skipped.is_empty() and "cf_faithfulness" in set(metrics["metric"])


def test_a_test_split_without_teacher_text_skips_the_reference_metrics(
    esnli_ingest_test, tiny_students
):
    """conf/paper's e-SNLI: the ingest test split, no teacher columns. Every example is
    answered, the student explains and answers its own explanation; the metrics that compare
    with the teacher are skipped, each with its reason, for the report."""
    training = _training(teachers=["llama"])
    students = {0: tiny_students["llama"][0]}
    sample, gens, acc, skipped, metrics, summary = _run_cell(
        esnli_ingest_test, students, training, "mt_cf_unrevised", benchmark="esnli"
    )
    assert sample.height == 12 and set(acc["n"]) == {12, 8}  # predict: all; factual: explained
    assert "counterfactual" not in set(gens["view"])
    assert {"predict", "explain", "factual"} <= set(gens["view"])
    assert dict(skipped.select("metric", "reason").iter_rows()).keys() == {
        "rouge_l",
        "cf_faithfulness",
    }
    assert skipped["reason"].str.contains("teacher").all()
    assert skipped.row(0, named=True)["cell"] == "esnli_tiny_mt_cf_unrevised"
    assert {"rouge_l", "cf_faithfulness"}.isdisjoint(set(metrics["metric"]))
    assert {"words", "distractors"} <= set(metrics["metric"]) == set(summary["metric"])
    stacked = nodes.stack_skipped_metrics(skipped, skipped.clear())
    assert stacked.columns == [
        "cell",
        "benchmark",
        "student",
        "condition",
        "split",
        "metric",
        "reason",
    ]
    assert stacked.height == 2
