"""Student training views built from a consolidated table alone (STUDY.md, "Student training").

One consolidated row (example × teacher) gives:

``predict``         ``[predict] <task>`` -> ``The answer is <gold>``
``explain``         ``[explain] <task>`` -> the rationale (unrevised ``positive`` or ``revised``)
``factual``         ``[factual] <task>`` -> ``<gold rationale> So the answer is <gold>.``
``counterfactual``  ``[counterfactual] <task>\\nRationale: <rationale of a wrong option>`` ->
                    ``So the answer is <that option>.`` — one view per wrong option (the
                    reference code used only one of them); ``answer_only_loss`` is true, as in
                    SCOTT the loss covers the answer tokens only.

``<task>`` is ``Question: …\\nChoices: (a) … (b) …`` (CommonsenseQA, StrategyQA) or
``Premise: …\\nHypothesis: …\\nChoices: (a) entailment (b) neutral (c) contradiction``
(e-SNLI). Views with an empty or missing text are not built (``skipped`` in the log).
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal

import polars as pl

from llm_distillation.consolidation.merge import TASK_COLUMNS
from llm_distillation.rendering import concat as _concat
from llm_distillation.rendering import task_text_expr
from llm_distillation.teacher.records import counterfactual_column, counterfactual_columns

logger = logging.getLogger(__name__)

VIEWS: Final = ("predict", "explain", "factual", "counterfactual")
PREDICT_PREFIX: Final = "The answer is "
"""The ``predict`` target is ``PREDICT_PREFIX + <gold option>`` (also the continuation option
log-likelihood scores: ``evaluation.option_loglik``)."""
RationaleKind = Literal["positive", "revised"]
RATIONALE_COLUMNS: Final = {
    "positive": TASK_COLUMNS["positive_rationale"],
    "revised": TASK_COLUMNS["revision"],
}
VIEW_SCHEMA: Final = pl.Schema(
    {
        "example_id": pl.String,
        "benchmark": pl.String,
        "split": pl.String,
        "teacher": pl.String,
        "view": pl.String,
        "option_index": pl.Int64,
        "input": pl.String,
        "target": pl.String,
        "answer_only_loss": pl.Boolean,
    }
)


def counterfactual_input(task: pl.Expr, rationale: pl.Expr) -> pl.Expr:
    """``[counterfactual] <task>\nRationale: <rationale>``: the input that asks for the answer
    a given rationale argues for (training: a teacher's rationale of a wrong option;
    evaluation also supplies the student's own explanation)."""
    return _concat("[counterfactual] ", task, "\nRationale: ", rationale.str.strip_chars())


def _usable(text: pl.Expr) -> pl.Expr:
    return text.is_not_null() & (text.str.strip_chars() != "")


def build_views(
    table: pl.DataFrame | pl.LazyFrame,
    views: tuple[str, ...] = VIEWS,
    rationale: RationaleKind = "positive",
    factual_rationale: RationaleKind | Literal["counterfactual"] = "positive",
) -> pl.DataFrame:
    """Every requested view of every row of a consolidated table (``VIEW_SCHEMA``).

    ``rationale`` picks the explain target; ``factual_rationale`` the factual one
    (``counterfactual`` = the counterfactual prompt's rationale for the gold option).
    """
    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown views {sorted(unknown)}; allowed: {list(VIEWS)}")
    lf = table.lazy().with_columns(
        _task=task_text_expr(),
        _gold=pl.col("choices").list.get(pl.col("answer_index")),
    )
    keys = ["example_id", "benchmark", "split", "teacher"]
    parts: list[pl.LazyFrame] = []

    def part(
        frame: pl.LazyFrame,
        view: str,
        *,
        option: pl.Expr,
        inp: pl.Expr,
        target: pl.Expr,
        ok: pl.Expr,
    ) -> pl.LazyFrame:
        return frame.filter(ok).select(
            *keys,
            view=pl.lit(view),
            option_index=option.cast(pl.Int64),
            input=inp,
            target=target,
            answer_only_loss=pl.lit(view == "counterfactual"),
        )

    gold = pl.col("answer_index")
    n_cf = len(counterfactual_columns(lf))
    if factual_rationale == "counterfactual":
        factual = pl.coalesce(
            *(pl.when(gold == i).then(pl.col(counterfactual_column(i))) for i in range(n_cf))
        )
    else:
        factual = pl.col(RATIONALE_COLUMNS[factual_rationale])
    explain = pl.col(RATIONALE_COLUMNS[rationale])
    gold_views = {  # view -> (target, whether the row has the text it needs)
        "predict": (_concat(PREDICT_PREFIX, pl.col("_gold")), pl.lit(True)),
        "explain": (explain, _usable(explain)),
        "factual": (
            _concat(factual.str.strip_chars(), " So the answer is ", pl.col("_gold"), "."),
            _usable(factual),
        ),
    }
    for view, (target, ok) in gold_views.items():
        if view in views:
            inp = pl.concat_str(pl.lit(f"[{view}] "), "_task")
            parts.append(part(lf, view, option=gold, inp=inp, target=target, ok=ok))
    if "counterfactual" in views:
        for i in range(n_cf):
            col = pl.col(counterfactual_column(i))
            option = pl.col("choices").list.get(i, null_on_oob=True)
            parts.append(
                part(
                    lf,
                    "counterfactual",
                    option=pl.lit(i),
                    inp=counterfactual_input(pl.col("_task"), col),
                    target=_concat("So the answer is ", option, "."),
                    ok=(gold != i)
                    & option.is_not_null()
                    & (option != pl.col("_gold"))
                    & _usable(col),
                )
            )
    if not parts:
        return pl.DataFrame(schema=VIEW_SCHEMA)
    out = pl.concat(parts).collect()
    return out.select(VIEW_SCHEMA.names()).cast(dict(VIEW_SCHEMA))


def row_views(row: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """The views of one consolidated row (a dict), as dicts — the same code as
    :func:`build_views`."""
    frame = pl.DataFrame([row], infer_schema_length=None)
    return build_views(frame, **kwargs).to_dicts()
