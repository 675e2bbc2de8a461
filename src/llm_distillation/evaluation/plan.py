"""What a cell's students are asked, rendered by the code that builds the training views.

A condition (``llm_distillation.training.conditions``) decides the views its students were
trained on; evaluation asks each student only those:

=================  ===========================================================================
answer views       ``[predict]`` (when trained) and ``[factual]`` (CF-trained); the
                   *primary* answer view (the condition's ``accuracy_view``: ``predict``,
                   else ``factual``) on every sampled test example, the other one on the
                   explanation sample
explanation        ``[explain]`` output (when trained), else the rationale part of the
                   ``[factual]`` output, on the explanation sample
counterfactual     ``[counterfactual] <task>\\nRationale: <teacher rationale of a wrong option>``
                   per wrong option of the explanation sample (CF-trained students): does the
                   answer follow the rationale?
consistency        ``[counterfactual] <task>\\nRationale: <the student's own explanation>``
                   (CF-trained students, second round): the answer its explanation supports
=================  ===========================================================================

Inputs are those of :func:`llm_distillation.consolidation.views.build_views` (``[<view>]
<task>``, built without the view's target so a row without teacher text is still asked) and
:func:`~llm_distillation.consolidation.views.counterfactual_input`, so an evaluation prompt is
byte for byte a training prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import polars as pl

from llm_distillation.consolidation.views import (
    RATIONALE_COLUMNS,
    build_views,
    counterfactual_input,
)
from llm_distillation.evaluation.references import has_counterfactual_rationales
from llm_distillation.rendering import task_text_expr

if TYPE_CHECKING:
    from llm_distillation.training.config import ConditionSpec

PROMPT_SCHEMA: Final = pl.Schema(
    {
        "key": pl.String,
        "example_id": pl.String,
        "view": pl.String,
        "option_index": pl.Int64,  # the option a supplied rationale argues for (else null)
        "prompt": pl.String,
    }
)
ANSWER_VIEWS: Final = ("predict", "factual")
FACTUAL_ANSWER: Final = r"(?is)^(.*)\bso\s+the\s+answer\s+is\b.*$"
"""The rationale part of a factual output: the text before its final "So the answer is"
(greedy: a rationale that itself says "so the answer is" keeps that part)."""


@dataclass(frozen=True)
class CellPlan:
    """The views a cell's students are evaluated on (see the module docstring)."""

    trained_views: tuple[str, ...]
    primary_view: str
    rationale: str | None = None
    """``build_views``' ``rationale`` of the reference (teacher) explanation: ``positive`` or
    ``revised``; None for a condition without explanations."""
    factual_rationale: str = "positive"
    label: str | None = None

    @property
    def answer_views(self) -> tuple[str, ...]:
        """The trained answer views; an untrained student is asked the primary one."""
        return tuple(v for v in ANSWER_VIEWS if v in self.trained_views) or (self.primary_view,)

    @property
    def explanation_view(self) -> str | None:
        """``explain`` when trained, else ``factual`` when trained, else None."""
        for view in ("explain", "factual"):
            if view in self.trained_views:
                return view
        return None

    @property
    def probes(self) -> bool:
        """Whether the students know the ``[counterfactual]`` input (faithfulness and
        consistency probes)."""
        return "counterfactual" in self.trained_views

    @property
    def reference_column(self) -> str | None:
        return RATIONALE_COLUMNS[self.rationale] if self.rationale else None  # type: ignore[index]


def plan_for(condition: ConditionSpec) -> CellPlan:
    """The plan of a cell trained under ``condition`` (its spec, as the validated
    ``student_training.conditions`` give it)."""
    from llm_distillation.training.conditions import (
        VIEW_RATIONALE,
        accuracy_view,
        condition_views,
        factual_rationale,
    )

    views = condition_views(condition)
    explains = "explain" in views or "factual" in views
    return CellPlan(
        trained_views=views,
        primary_view=accuracy_view(condition),
        rationale=VIEW_RATIONALE[condition.rationale] if explains else None,
        factual_rationale=factual_rationale(condition),
        label=condition.label,
    )


def _key(with_option: bool) -> pl.Expr:
    """``<example_id>/<view>`` (``/<option_index>`` for counterfactual prompts)."""
    parts = [pl.col("example_id"), pl.lit("/"), pl.col("view")]
    if with_option:
        parts += [pl.lit("/"), pl.col("option_index").cast(pl.String)]
    return pl.concat_str(parts)


def _prompts(views: pl.DataFrame, *, with_option: bool = False) -> pl.DataFrame:
    return views.select(
        key=_key(with_option),
        example_id="example_id",
        view="view",
        option_index=pl.col("option_index") if with_option else pl.lit(None, pl.Int64),
        prompt="input",
    ).cast(dict(PROMPT_SCHEMA))


def first_round(table: pl.DataFrame, explained_ids: list[str], plan: CellPlan) -> pl.DataFrame:
    """Every prompt that needs no student output (``PROMPT_SCHEMA``): the primary answer view
    on all of ``table`` (one row per example: consolidated, or the ingest test split); the
    other answer view, the explanation and the counterfactual views on the rows whose
    ``example_id`` is in ``explained_ids``. The counterfactual probes need the teacher's
    rationales of the wrong options: none without them
    (:func:`~llm_distillation.evaluation.references.missing_references`)."""
    parts = [pl.DataFrame(schema=PROMPT_SCHEMA)]
    explained = table.filter(pl.col("example_id").is_in(explained_ids))
    for view in plan.answer_views:
        rows = table if view == plan.primary_view else explained
        parts.append(prompts_of_view(rows, view))
    if "explain" in plan.trained_views:
        parts.append(prompts_of_view(explained, "explain"))
    if plan.probes and has_counterfactual_rationales(explained):
        cf = build_views(
            explained,
            views=("counterfactual",),
            rationale=plan.rationale or "positive",  # type: ignore[arg-type]
            factual_rationale=plan.factual_rationale,  # type: ignore[arg-type]
        )
        parts.append(_prompts(cf, with_option=True))
    return pl.concat(parts, how="vertical")


def prompts_of_view(rows: pl.DataFrame, view: str) -> pl.DataFrame:
    """The ``[<view>] <task>`` prompt of every row (``PROMPT_SCHEMA``)."""
    return _prompts(_task_views(rows, view))


def _task_views(rows: pl.DataFrame, view: str) -> pl.DataFrame:
    """``[<view>] <task>`` of every row: the input ``build_views`` gives the view, built
    without its target, so that every example is asked even when its teacher text is missing
    (a test table without teacher columns: ``evaluation.test_tables``)."""
    return rows.select(
        "example_id",
        view=pl.lit(view),
        input=pl.concat_str(pl.lit(f"[{view}] "), task_text_expr()),
    )


def consistency_round(table: pl.DataFrame, explanations: pl.DataFrame) -> pl.DataFrame:
    """``[counterfactual]`` prompts carrying each student explanation (``explanations``:
    ``example_id``, ``explanation``) as its rationale (``PROMPT_SCHEMA``, view
    ``consistency``)."""
    usable = explanations.filter(pl.col("explanation").str.strip_chars().str.len_chars() > 0)
    rows = table.join(usable.select("example_id", "explanation"), on="example_id")
    return (
        rows.with_columns(view=pl.lit("consistency"))
        .select(
            key=_key(False),
            example_id="example_id",
            view="view",
            option_index=pl.lit(None, pl.Int64),
            prompt=counterfactual_input(task_text_expr(), pl.col("explanation")),
        )
        .cast(dict(PROMPT_SCHEMA))
    )


def explanation_text(view: str, text: pl.Expr) -> pl.Expr:
    """The explanation inside a student's output of ``view``: all of an ``explain`` output;
    the part of a ``factual`` output before its final "So the answer is"."""
    if view == "factual":
        return pl.coalesce(text.str.extract(FACTUAL_ANSWER, 1), text).str.strip_chars()
    return text.str.strip_chars()


def reference_rationales(table: pl.DataFrame, plan: CellPlan) -> pl.DataFrame:
    """``example_id``, ``reference``: the teacher rationale the cell's students learned from
    (unrevised or revised), or an empty frame for a condition without explanations."""
    column = plan.reference_column
    if column is None or column not in table.columns:
        return pl.DataFrame(schema={"example_id": pl.String, "reference": pl.String})
    return table.select("example_id", reference=pl.col(column))
