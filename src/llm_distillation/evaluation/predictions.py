"""Student outputs -> parsed answers, per-example prediction rows, accuracy with a CI.

- :func:`generate_cell`: every prompt of a cell's plan, for every seed's student, through the
  generation engine (one student loaded at a time) -> ``GENERATION_SCHEMA`` rows;
- :func:`score_generations`: each answer-bearing output parsed by the one answer parser
  (:func:`llm_distillation.answers.extract_answers`) -> ``PREDICTION_SCHEMA`` rows;
- :func:`accuracy_table`: accuracy per run (seed × split × view) with a seeded percentile
  bootstrap 95% CI;
- :func:`teacher_accuracy`: the share of the teacher's rationales whose stated answer is gold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from llm_distillation.answers import extract_answers
from llm_distillation.evaluation.generate import EngineSettings, Generate, open_student
from llm_distillation.evaluation.plan import (
    PROMPT_SCHEMA,
    CellPlan,
    consistency_round,
    explanation_text,
    first_round,
)
from llm_distillation.generation.stored import StoredModel

logger = logging.getLogger(__name__)

_CELL_NAMES: Final = ("cell", "benchmark", "student", "condition")
RUN_KEYS: Final = (*_CELL_NAMES, "seed")
RUN_SCHEMA: Final = pl.Schema(
    {**dict.fromkeys(_CELL_NAMES, pl.String), "seed": pl.Int64, "split": pl.String}
)
"""The columns naming a run (cell, seed) and its split: every evaluation table starts with them."""
_USAGE: Final = pl.Schema(
    {"prompt_tokens": pl.Int64, "generated_tokens": pl.Int64, "finish_reason": pl.String}
)
"""What the engine reports about an output besides its text."""
_OUTPUT: Final = pl.Schema({"text": pl.String, **_USAGE})
"""The engine's output columns (the fields of its results)."""
GENERATION_SCHEMA: Final = pl.Schema({**RUN_SCHEMA, **PROMPT_SCHEMA, **_OUTPUT})
PREDICTION_SCHEMA: Final = pl.Schema(
    {
        **RUN_SCHEMA,
        "view": pl.String,
        "primary": pl.Boolean,  # the condition's accuracy view (predict, else factual)
        "example_id": pl.String,
        "rationale_option": pl.Int64,  # counterfactual probes: the option the rationale argues
        "prediction": pl.String,  # the option text, or "unparseable"
        "predicted_index": pl.Int64,
        "gold": pl.String,
        "gold_index": pl.Int64,
        "correct": pl.Boolean,
        "raw_text": pl.String,
        **_USAGE,
    }
)
"""``<ns>.predictions``: one row per parsed student answer. ``view`` is ``predict`` or
``factual`` (answers to the task), ``counterfactual`` (answer given a teacher rationale for
``rationale_option``) or ``consistency`` (answer given the student's own explanation)."""

ACCURACY_SCHEMA: Final = pl.Schema(
    {
        **RUN_SCHEMA,
        "view": pl.String,
        "primary": pl.Boolean,  # the condition's accuracy view
        "n": pl.Int64,
        "accuracy": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "unparseable": pl.Float64,  # share of outputs that state no option
    }
)


@dataclass(frozen=True)
class CellInfo:
    """A matrix cell's names (the columns every evaluation table carries)."""

    cell: str
    benchmark: str
    student: str
    condition: str

    def columns(self) -> dict[str, pl.Expr]:
        return {k: pl.lit(getattr(self, k)) for k in _CELL_NAMES}


@dataclass(frozen=True)
class Lengths:
    """``max_new_tokens`` per view."""

    predict: int = 12
    explain: int = 32
    factual: int = 48
    counterfactual: int = 12

    def of(self, view: str) -> int:
        return self.counterfactual if view == "consistency" else getattr(self, view)


def _complete(generate: Generate, prompts: pl.DataFrame, lengths: Lengths) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (view,), part in prompts.group_by("view", maintain_order=True):
        records = part.to_dicts()
        results = generate([(r["key"], r["prompt"]) for r in records], lengths.of(str(view)))
        for record, result in zip(records, results, strict=True):
            if result.key != record["key"]:
                raise RuntimeError(f"engine returned {result.key!r} for request {record['key']!r}")
            rows.append({**record, **{name: getattr(result, name) for name in _OUTPUT}})
    return rows


def generate_cell(
    models: Mapping[int, StoredModel],
    table: pl.DataFrame,
    explained_ids: list[str],
    plan: CellPlan,
    info: CellInfo,
    *,
    split: str = "test",
    lengths: Lengths = Lengths(),
    settings: EngineSettings | None = None,
) -> pl.DataFrame:
    """Every output of the cell's plan for every seed (``GENERATION_SCHEMA``).

    ``models``: seed -> student (``<ns>.student_model``'s load); ``table``: the sampled
    consolidated rows. Each student is opened in the generation engine (:func:`open_student`), asked
    the first round, then - for CF-trained students - the consistency round built from its own
    explanations, and released before the next seed.
    """
    first = first_round(table, explained_ids, plan)
    frames = []
    for seed in sorted(models):
        logger.info(
            "%s seed %d: %d prompts (%s) with %s",
            info.cell,
            seed,
            first.height,
            ", ".join(sorted(set(first["view"]))),
            models[seed],
        )
        with open_student(models[seed], settings or EngineSettings()) as generate:
            rows = _complete(generate, first, lengths)
            done = pl.DataFrame(rows, schema=PROMPT_SCHEMA | _OUTPUT) if rows else None
            if plan.probes and plan.explanation_view and done is not None:
                own = explanations_of(done, plan.explanation_view).filter(
                    pl.col("example_id").is_in(explained_ids)
                )
                rows += _complete(generate, consistency_round(table, own), lengths)
        frame = pl.DataFrame(rows, schema=PROMPT_SCHEMA | _OUTPUT) if rows else None
        if frame is not None:
            frames.append(frame.with_columns(**info.columns(), seed=seed, split=pl.lit(split)))
    if not frames:
        return pl.DataFrame(schema=GENERATION_SCHEMA)
    return pl.concat(frames).select(GENERATION_SCHEMA.names()).cast(dict(GENERATION_SCHEMA))


def explanations_of(outputs: pl.DataFrame, view: str) -> pl.DataFrame:
    """``example_id``, ``explanation`` from the outputs of ``view`` (see
    :func:`llm_distillation.evaluation.plan.explanation_text`); keeps other columns."""
    return outputs.filter(pl.col("view") == view).with_columns(
        explanation=explanation_text(view, pl.col("text"))
    )


def parse_answers(outputs: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """``outputs`` (``example_id``, ``text``, any other columns) with the option each text
    states (``predicted_index``, ``prediction``: the option text or ``unparseable``) and
    ``correct``, by the one answer parser; ``table`` gives each example's ``choices`` and
    ``answer_index``."""
    extra = [] if "benchmark" in outputs.columns else ["benchmark"]
    examples = table.select("example_id", "choices", "answer_index", *extra).unique("example_id")
    rows = (
        outputs.join(examples, on="example_id", how="left")
        .with_row_index("row_id")
        .with_columns(scope=pl.col("text"))
    )
    missing = rows.filter(pl.col("choices").is_null())
    if not missing.is_empty():
        raise ValueError(
            "outputs for examples not in the evaluation table: "
            f"{missing['example_id'].head(5).to_list()}"
        )
    return rows.join(extract_answers(rows), on="row_id").with_columns(
        correct=(pl.col("predicted_index") == pl.col("answer_index")).fill_null(False)
    )


def score_generations(
    generations: pl.DataFrame, table: pl.DataFrame, primary_view: str = "predict"
) -> pl.DataFrame:
    """Parse every answer-bearing output (``predict``, ``factual``, ``counterfactual``,
    ``consistency``) into an option (``PREDICTION_SCHEMA``, :func:`parse_answers`); rows of
    ``primary_view`` are marked ``primary``."""
    answers = generations.filter(
        pl.col("view").is_in(["predict", "factual", "counterfactual", "consistency"])
    )
    out = parse_answers(answers, table).with_columns(
        gold=pl.col("choices").list.get(pl.col("answer_index")),
        gold_index="answer_index",
        rationale_option="option_index",
        primary=pl.col("view") == primary_view,
        raw_text="text",
    )
    return out.select(PREDICTION_SCHEMA.names()).cast(dict(PREDICTION_SCHEMA))


def bootstrap_ci(
    values: list[bool] | list[float], resamples: int, seed: int, level: float = 0.95
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the mean of ``values`` (``resamples`` resamples with
    replacement, ``numpy.random.default_rng(seed)``); (None, None) without values."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None, None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def accuracy_table(
    predictions: pl.DataFrame, primary_view: str, *, resamples: int = 1000, seed: int = 0
) -> pl.DataFrame:
    """Accuracy of each run and answer view (``ACCURACY_SCHEMA``), with a bootstrap 95% CI
    seeded by ``seed`` (the same for every run, so a run's interval is reproducible).
    ``unparseable`` outputs count as wrong. Option log-likelihood answers
    (``evaluation.option_loglik``, view ``option_loglik``) get rows of their own."""
    answers = predictions.filter(pl.col("view").is_in(["predict", "factual", "option_loglik"]))
    rows = []
    keys = [*RUN_KEYS, "split", "view"]
    for group, part in answers.group_by(keys, maintain_order=True):
        meta = dict(zip(keys, group, strict=True))
        correct = part["correct"].to_list()
        low, high = bootstrap_ci(correct, resamples, seed)
        rows.append(
            {
                **meta,
                "primary": meta["view"] == primary_view,
                "n": len(correct),
                "accuracy": sum(correct) / len(correct),
                "ci_low": low,
                "ci_high": high,
                "unparseable": float(part["predicted_index"].is_null().mean()),
            }
        )
    return pl.DataFrame(rows, schema=ACCURACY_SCHEMA).sort("seed", "split", "view")


TEACHER_ACCURACY_SCHEMA: Final = pl.Schema(
    {
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,
        "kind": pl.String,
        "n": pl.Int64,
        "states_an_option": pl.Float64,
        "states_gold": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "gold_where_stated": pl.Float64,
    }
)


def teacher_accuracy(
    table: pl.DataFrame, columns: Mapping[str, str], *, resamples: int = 1000, seed: int = 0
) -> pl.DataFrame:
    """How often the teacher's rationales state the gold option (``TEACHER_ACCURACY_SCHEMA``).

    ``columns``: kind -> consolidated column (e.g. ``positive`` ->
    ``few_shot_positive_rationale``). The study's teacher wrote these rationales *given* the
    gold answer, so ``states_gold`` is not the teacher's accuracy at the task: it measures how
    faithfully the rationales carry the answer they were asked to explain (a rationale that
    states another option contradicts its own label; one that states nothing teaches the
    student no answer). Explicit statements only (no bare option words). Consolidation's
    cleaning drops an echoed leading "The answer is X." line, so a cleaned rationale states an
    answer only inside its explanation.
    """
    rows = []
    for kind, column in columns.items():
        if column not in table.columns:
            continue
        frame = (
            table.filter(pl.col(column).is_not_null())
            .with_row_index("row_id")
            .with_columns(scope=pl.col(column))
        )
        parsed = frame.join(extract_answers(frame, bare=False), on="row_id")
        for (benchmark, split, teacher), part in parsed.group_by(
            "benchmark", "split", "teacher", maintain_order=True
        ):
            gold = (part["predicted_index"] == part["answer_index"]).fill_null(False).to_list()
            stated = part["predicted_index"].is_not_null()
            low, high = bootstrap_ci(gold, resamples, seed)
            n_stated = int(stated.sum())
            rows.append(
                {
                    "benchmark": benchmark,
                    "split": split,
                    "teacher": teacher,
                    "kind": kind,
                    "n": part.height,
                    "states_an_option": n_stated / part.height,
                    "states_gold": sum(gold) / part.height,
                    "ci_low": low,
                    "ci_high": high,
                    "gold_where_stated": sum(gold) / n_stated if n_stated else None,
                }
            )
    return pl.DataFrame(rows, schema=TEACHER_ACCURACY_SCHEMA)
