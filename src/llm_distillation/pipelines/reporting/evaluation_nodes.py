"""Nodes of the ``reporting`` pipeline on this project's evaluation: thin wrappers over
:mod:`llm_distillation.reporting` (the study's own data: :mod:`.nodes`, with the helpers both
share).
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from llm_distillation.pipelines.reporting.nodes import Figure, plain, reporting_params, with_png
from llm_distillation.pipelines.reporting.params import ReportingParams
from llm_distillation.reporting import figures
from llm_distillation.reporting.metrics import compare_explanation_metrics
from llm_distillation.reporting.paired import gee_correctness, paired_tests
from llm_distillation.reporting.performance import (
    analyse_performance,
    from_accuracy_table,
)
from llm_distillation.reporting.report import ReportSection, build_report, input_record, run_record
from llm_distillation.reporting.scope import (
    answer_options,
    cell_statements,
    cell_table,
    condition_labels,
    condition_order,
    label_runs,
    scope_statements,
    skipped_summary,
)
from llm_distillation.reporting.sentences import (
    describe,
    describe_baseline,
    describe_shapiro,
    describe_skipped,
)
from llm_distillation.reporting.tidy import concat_results, result_table

logger = logging.getLogger(__name__)


def _condition_names(
    p: ReportingParams, student_training: dict[str, Any] | None, *tables: pl.DataFrame
) -> tuple[dict[str, str], list[str]]:
    """(condition key -> the study's name, the names in report order) for the conditions of
    ``tables`` (keys, or names already given) and of ``reporting.evaluation.conditions``."""
    present = [c for t in tables if "condition" in t.columns for c in t["condition"].to_list()]
    keys = list(dict.fromkeys([*present, *p.evaluation.conditions]))
    labels = condition_labels(keys, student_training)
    shown = {labels.get(c, c) for c in present}
    order = [c for c in condition_order(labels, p.evaluation.conditions) if c in shown]
    return labels, order


def _untrained(
    labels: dict[str, str], order: list[str], student_training: dict[str, Any] | None
) -> list[str]:
    """The names (in ``order``) of the conditions that train nothing (mode ``untrained``): by
    key or by label, as the tables may carry either."""
    from llm_distillation.training.conditions import NAMED_CONDITIONS, condition_spec

    declared = {**NAMED_CONDITIONS, **dict((student_training or {}).get("conditions") or {})}
    names: set[str] = set()
    for key, value in declared.items():
        try:
            spec = condition_spec(value, setting=f"conditions.{key}")
        except ValueError:
            continue
        if spec.mode == "untrained":
            names |= {key, labels.get(key, key), *([spec.label] if spec.label else [])}
    return [c for c in order if c in names]


def _labelled(
    table: pl.DataFrame, p: ReportingParams, student_training: dict[str, Any] | None
) -> tuple[pl.DataFrame, list[str]]:
    """``table`` with the study's condition names and the students' labels (only the
    configured students and conditions when the parameters name them), and the condition
    order."""
    labels, order = _condition_names(p, student_training, table)
    e = p.evaluation
    out = label_runs(table, labels, e.students or None, e.conditions or None)
    present = set(out["condition"].to_list()) if "condition" in out.columns else set()
    return out, [c for c in order if c in present]


def analyse_evaluation_accuracy(
    accuracy: pl.DataFrame, params: dict[str, Any], student_training: dict[str, Any] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Accuracy table (``benchmark, student, condition, seed, accuracy``) -> per benchmark the
    study's performance analysis; (summary, tests) with a ``benchmark`` column / subset, the
    conditions by the study's names (``student_training``: their declarations).

    Cells with fewer than ``min_seeds_per_group`` seeds give "not possible" test rows.
    """
    p = reporting_params(params)
    if accuracy.height == 0:
        raise ValueError("accuracy table: no rows (did the evaluation run?)")
    labelled, order = _labelled(accuracy, p, student_training)
    summaries, tests = [], []
    for benchmark in sorted(labelled["benchmark"].unique().to_list()):
        data = from_accuracy_table(labelled, benchmark)
        out = analyse_performance(
            data, min_per_group=p.evaluation.min_seeds_per_group, conditions=order
        )
        summaries.append(out["summary"].with_columns(pl.lit(benchmark).alias("benchmark")))
        tests.append(
            out["tests"].with_columns(
                pl.concat_str(
                    pl.lit(f"benchmark={benchmark}"),
                    pl.when(pl.col("subset").is_not_null())
                    .then(pl.lit(", ") + pl.col("subset"))
                    .otherwise(pl.lit("")),
                ).alias("subset")
            )
        )
        not_run = out["tests"].filter(pl.col("note").str.starts_with("not possible"))
        if not_run.height:  # expected with one seed; the report's opening box says so
            logger.info("Accuracy tests on %s: %s", benchmark, not_run["note"][0])
    summary = pl.concat(summaries) if summaries else pl.DataFrame()
    return plain(summary), concat_results(tests)


def analyse_paired_predictions(
    predictions: pl.DataFrame,
    params: dict[str, Any],
    student_training: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Per-example predictions -> McNemar / Cochran's Q (Holm) and the GEE, one result table."""
    p = reporting_params(params)
    if predictions.height == 0:  # e.g. no option log-likelihood answers (option_loglik off)
        return concat_results([])
    labelled, order = _labelled(predictions, p, student_training)
    e = p.evaluation
    return concat_results(
        [
            paired_tests(
                labelled,
                order,
                pair_on=e.pair_on,
                p_adjust=e.paired_p_adjust,
                exact=e.mcnemar_exact,
                alpha=p.alpha,
                power=p.power,
            ),
            gee_correctness(labelled, order),
        ]
    )


def analyse_explanation_metrics(
    metrics: pl.DataFrame, params: dict[str, Any], student_training: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Per-explanation metrics -> Kruskal-Wallis + Dunn + Vargha-Delaney A per metric."""
    p = reporting_params(params)
    if metrics.height == 0:
        return result_table([])
    labelled, order = _labelled(metrics, p, student_training)
    return compare_explanation_metrics(labelled, order, p.evaluation.metrics_p_adjust)


def describe_evaluation_cells(
    accuracy: pl.DataFrame,
    predictions: pl.DataFrame,
    params: dict[str, Any],
    student_training: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Per (benchmark, student, condition): seeds, test examples, accuracy, share of parseable
    answers and chance level (:func:`llm_distillation.reporting.scope.cell_table`), by the
    study's condition names and the students' labels, in report order."""
    p = reporting_params(params)
    labelled, order = _labelled(accuracy, p, student_training)
    answers, _ = _labelled(predictions, p, student_training)
    cells = cell_table(labelled, answers, answer_options(predictions))
    rank = {c: i for i, c in enumerate(order)}
    return cells.sort(
        "benchmark", "student", pl.col("condition").replace_strict(rank, default=len(rank))
    )


def plot_evaluation_accuracy(
    summary: pl.DataFrame,
    cells: pl.DataFrame,
    params: dict[str, Any],
    student_training: dict[str, Any] | None = None,
) -> tuple[Figure, bytes]:
    """Mean accuracy ± SE per condition and student, a column per benchmark, with the chance
    line and each cell's unparseable share below (:func:`figures.evaluation_accuracy`)."""
    p = reporting_params(params)
    _, order = _condition_names(p, student_training, summary, cells)
    after = summary.filter(pl.col("stage") == "after")
    students = list(dict.fromkeys(p.evaluation.students.values())) or None
    return with_png(figures.evaluation_accuracy(after, cells, order, students))


def plot_training_curves(
    params: dict[str, Any], student_training: dict[str, Any] | None, *curves: pl.DataFrame
) -> tuple[Figure, bytes]:
    """Training loss (train and dev) against step, one panel per matrix cell, titled
    ``benchmark · student · condition`` by the study's names where the curves carry them."""
    from llm_distillation.reporting.figures import training_curves

    p = reporting_params(params)
    frames = [c.collect() if isinstance(c, pl.LazyFrame) else c for c in curves]
    table = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    order = None
    if {"benchmark", "student", "condition"} <= set(table.columns):
        labels, conditions = _condition_names(p, student_training, table)
        students = p.evaluation.students
        rank = {c: i for i, c in enumerate(conditions)}
        table = table.with_columns(
            pl.col("condition").replace(labels),
            pl.col("student").replace(dict(students)) if students else pl.col("student"),
        ).with_columns(
            pl.concat_str("benchmark", "student", "condition", separator=" · ").alias("cell"),
            pl.col("condition").replace_strict(rank, default=len(rank)).alias("_rank"),
        )
        order = table.sort("benchmark", "student", "_rank")["cell"].unique(maintain_order=True)
        order = order.to_list()
    return with_png(training_curves(table, "loss", order))


def plot_explanation_distributions(
    metrics: pl.DataFrame, params: dict[str, Any], student_training: dict[str, Any] | None = None
) -> tuple[Figure, bytes]:
    """Explanation length (words) per condition: the study's rationale-length figure, on this
    project's student explanations (distractor mentions are in the metric tests)."""
    from llm_distillation.reporting.figures import distribution_by_condition

    labelled, order = _labelled(metrics, reporting_params(params), student_training)
    words = labelled.filter(pl.col("metric") == "words").drop_nulls("value")
    return with_png(
        distribution_by_condition(
            words, "value", label="Explanation length (words)", conditions=order
        )
    )


_RUN_COLUMNS = (
    "benchmark",
    "student",
    "condition",
    "seed",
    "n",
    "accuracy",
    "ci_low",
    "ci_high",
    "unparseable",
)


def side_by_side_accuracy(runs: pl.DataFrame, options: pl.DataFrame) -> pl.DataFrame:
    """Per run: the generated answers' accuracy (primary view) and the option log-likelihood
    accuracy, each with its 95% bootstrap CI (``runs`` and ``options`` already labelled)."""
    keys = ["benchmark", "student", "condition", "seed"]
    generated = runs.select(
        *keys,
        "n",
        generated="accuracy",
        generated_ci_low="ci_low",
        generated_ci_high="ci_high",
        unparseable="unparseable",
    )
    if options.height == 0:
        return generated
    likelihood = options.select(
        *keys, option_loglik="accuracy", option_ci_low="ci_low", option_ci_high="ci_high"
    )
    return generated.join(likelihood, on=keys, how="left", maintain_order="left")


def option_statements(options: pl.DataFrame, order: list[str]) -> list[str]:
    """One sentence per run on its option log-likelihood accuracy (format-free), in report
    order."""
    rank = {c: i for i, c in enumerate(order)}
    rows = options.sort(
        "benchmark", "student", pl.col("condition").replace_strict(rank, default=len(rank)), "seed"
    )
    return [
        f"{r['benchmark']}/{r['student']}/{r['condition']} (seed {r['seed']}): "
        f"{100 * r['accuracy']:.1f}% by option log-likelihood (95% CI "
        f"{100 * r['ci_low']:.1f}% to {100 * r['ci_high']:.1f}%): the option whose "
        '"The answer is {option}" it finds most likely, whatever the format of its own answer.'
        for r in rows.iter_rows(named=True)
        if r["accuracy"] is not None and r["ci_low"] is not None
    ]


def build_evaluation_report(
    *,
    accuracy: pl.DataFrame,
    option_accuracy: pl.DataFrame,
    option_paired: pl.DataFrame,
    predictions: pl.DataFrame,
    metrics: pl.DataFrame,
    skipped: pl.DataFrame,
    cells: pl.DataFrame,
    accuracy_summary: pl.DataFrame,
    accuracy_tests: pl.DataFrame,
    paired: pl.DataFrame,
    metric_tests: pl.DataFrame,
    accuracy_png: bytes,
    curves_png: bytes,
    lengths_png: bytes,
    input_versions: dict[str, Any],
    params: dict[str, Any],
    student_training: dict[str, Any] | None = None,
    names: tuple[str, str, str, str] = ("accuracy", "predictions", "metrics", "skipped"),
) -> tuple[str, str]:
    """(HTML, Markdown) report of this project's evaluation outputs, opening with "What this run
    can tell you" (:func:`llm_distillation.reporting.scope.scope_statements` of ``cells``);
    ``names``: the catalog names of the four evaluation inputs (to find their versions in
    ``input_versions``)."""
    p = reporting_params(params)
    labels, order = _condition_names(p, student_training, cells)
    runs, _ = _labelled(accuracy, p, student_training)
    rank = {c: i for i, c in enumerate(order)}
    runs = runs.select([c for c in _RUN_COLUMNS if c in runs.columns]).sort(
        "benchmark",
        "student",
        pl.col("condition").replace_strict(rank, default=len(rank)),
        "seed",
    )
    options, _ = _labelled(option_accuracy, p, student_training)
    skipped_cells, _ = _labelled(skipped, p, student_training)
    one_seed = cells.height > 0 and cells["seeds"].max() == 1
    sections = [
        ReportSection(
            "What this run can tell you",
            statements=describe_baseline(
                option_paired, options, _untrained(labels, order, student_training), p.alpha
            )
            + scope_statements(
                cells,
                p.alpha,
                p.power,
                conditions=order,
                paired={"generated answers": paired, "option log-likelihood": option_paired},
            ),
            boxed=True,
        ),
        ReportSection(
            "Accuracy by condition and student",
            statements=cell_statements(cells, order)
            + option_statements(options, order)
            + describe(accuracy_tests, p.alpha)
            + describe_shapiro(accuracy_tests, p.alpha),
            figures={
                "Mean test accuracy ± SE over seeds (after outlier removal), the chance level "
                "(dashed), and below each bar its cell's share of unparseable answers": (
                    accuracy_png
                )
            },
            tables={
                "Cells: seeds, test examples, accuracy, parseable answers, chance": cells,
                "Accuracy per run (fractions; 95% bootstrap CI over test examples)": runs,
                "Generated answers vs option log-likelihood (acc_norm: the option whose "
                '"The answer is {option}" the student finds most likely), per run, 95% '
                "bootstrap CIs": side_by_side_accuracy(runs, options),
                "Group means over seeds": accuracy_summary,
                "Tests": accuracy_tests,
            },
            notes=(
                ["With one seed per cell, the group means have no SD or SE (left blank)."]
                if one_seed
                else []
            ),
        ),
        ReportSection(
            "Training",
            statements=[],
            figures={"Training and dev loss per matrix cell": curves_png},
            tables={},
        ),
        ReportSection(
            "Paired per-example comparisons",
            statements=describe(paired, p.alpha)
            + [f"Option log-likelihood answers: {s}" for s in describe(option_paired, p.alpha)],
            tables={
                "McNemar, Cochran's Q and GEE": paired,
                "The same on option log-likelihood answers": option_paired,
            },
        ),
        ReportSection(
            "Automatic explanation metrics",
            statements=describe(metric_tests, p.alpha) + describe_skipped(skipped_cells),
            figures={"Explanation length per condition": lengths_png},
            tables={
                "Kruskal-Wallis, Dunn and Vargha-Delaney A per metric": metric_tests,
                "Metrics not computed, and why": skipped_summary(skipped_cells),
            },
        ),
    ]
    run = run_record(
        p.model_dump(),
        [
            input_record(names[0], accuracy, input_versions),
            input_record(names[1], predictions, input_versions),
            input_record(names[2], metrics, input_versions),
            input_record(names[3], skipped, input_versions),
        ],
    )
    return build_report(f"{p.title}: evaluation", sections, run)
