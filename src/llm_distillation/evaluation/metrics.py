"""Automatic explanation metrics: per example, and aggregated per run (seed × split).

Each metric is a function documented with what it measures; ``docs/evaluation.md`` says what
it stands in for (the study's human ratings) and its limits.

==========================  ==================================================================
``words``                   explanation length in whitespace-separated words
``distractors``             distinct wrong options the explanation names as whole words (the
                            study's contrastiveness signal; :mod:`consolidation.quality`)
``rouge_l``                 ROUGE-L F1 (``rouge-score``, stemmed) against the teacher
                            rationale the student learned from
``embedding_similarity``    cosine similarity of all-MiniLM-L6-v2 embeddings of explanation
                            and teacher rationale
``option_consistency``      1 when the option closest to the explanation (embedding cosine)
                            is the student's answer, else 0
``probe_consistency``       CF-trained students: 1 when the student, given its own explanation
                            as the ``[counterfactual]`` rationale, answers what it answered
``cf_faithfulness``         CF-trained students: share of the teacher's wrong-option
                            rationales whose option the student then answers (SCOTT-style)
``las``                     run level: leakage-adjusted simulatability
                            (:mod:`~llm_distillation.evaluation.simulatability`); per example
                            ``las_gain`` (S_xe hit - S_x hit) and ``leaking``
==========================  ==================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import polars as pl

from llm_distillation.answers import extract_answers
from llm_distillation.cleaning import word_count
from llm_distillation.consolidation.quality import distractor_counts, option_mentions
from llm_distillation.evaluation.embeddings import Embed
from llm_distillation.evaluation.predictions import bootstrap_ci
from llm_distillation.evaluation.simulatability import leakage_adjusted_simulatability

logger = logging.getLogger(__name__)

METRICS: Final = (
    "words",
    "distractors",
    "rouge_l",
    "embedding_similarity",
    "option_consistency",
    "probe_consistency",
    "cf_faithfulness",
    "las",
)
EMBEDDING_METRICS: Final = frozenset({"embedding_similarity", "option_consistency", "las"})
RUN: Final = ["cell", "benchmark", "student", "condition", "seed", "split"]
METRIC_SCHEMA: Final = pl.Schema(
    {
        **dict.fromkeys(["cell", "benchmark", "student", "condition"], pl.String),
        "seed": pl.Int64,
        "split": pl.String,
        "example_id": pl.String,
        "metric": pl.String,
        "value": pl.Float64,
    }
)
"""``<ns>.explanation_metrics``: one row per (run, example, metric)."""
SUMMARY_SCHEMA: Final = pl.Schema(
    {
        **{k: METRIC_SCHEMA[k] for k in RUN},
        "metric": pl.String,
        "n": pl.Int64,
        "value": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
    }
)
"""``<ns>.metric_summary``: per run and metric the mean over examples (LAS: the run's LAS)
with a bootstrap 95% CI of the mean (none for LAS)."""


# ------------------------------------------------------------------ per-example metrics


def word_lengths(texts: Sequence[str | None]) -> list[int]:
    """Words (runs of non-space characters) per text; 0 for an empty or missing one."""
    return (
        pl.DataFrame({"t": list(texts)}, schema={"t": pl.String})
        .select(word_count(pl.col("t")))["t"]
        .to_list()
    )


def distractor_mentions(
    texts: Sequence[str | None], choices: Sequence[Sequence[str]], gold: Sequence[int]
) -> list[int]:
    """Distinct wrong options (not the gold index, not the gold text) each text names as whole
    words, case-insensitive (:func:`llm_distillation.consolidation.quality.distractor_counts`,
    the rationale statistic of the consolidation report)."""
    frame = pl.DataFrame(
        {"text": list(texts), "choices": [list(c) for c in choices], "answer_index": list(gold)},
        schema={"text": pl.String, "choices": pl.List(pl.String), "answer_index": pl.Int64},
    )
    return distractor_counts(frame)["distractors"].to_list()


def rouge_l(
    candidates: Sequence[str | None], references: Sequence[str | None]
) -> list[float | None]:
    """ROUGE-L F1 of each candidate against its reference (Google's ``rouge-score``, Porter
    stemming, its default tokenizer: lower case, alphanumeric tokens). None when either text
    is missing; 0.0 when either has no tokens."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [
        None if c is None or r is None else float(scorer.score(r, c)["rougeL"].fmeasure)
        for c, r in zip(candidates, references, strict=True)
    ]


def cosine_similarities(
    embed: Embed, texts: Sequence[str | None], others: Sequence[str | None]
) -> list[float | None]:
    """Cosine similarity of the sentence embeddings of ``texts[i]`` and ``others[i]`` (None
    when either is missing or empty)."""
    pairs = [(a, b) for a, b in zip(texts, others, strict=True)]
    usable = [i for i, (a, b) in enumerate(pairs) if a and a.strip() and b and b.strip()]
    out: list[float | None] = [None] * len(pairs)
    if usable:
        left = embed([pairs[i][0] for i in usable])
        right = embed([pairs[i][1] for i in usable])
        for row, i in enumerate(usable):
            out[i] = float(left[row] @ right[row])
    return out


def option_similarities(
    embed: Embed, texts: Sequence[str], choices: Sequence[Sequence[str]]
) -> list[Any]:
    """Per text, the cosine similarity of its embedding to each option's (an array)."""
    flat = [o for options in choices for o in options]
    opt = embed(flat) if flat else None
    own = embed(list(texts)) if texts else None
    out, start = [], 0
    for i, options in enumerate(choices):
        out.append(opt[start : start + len(options)] @ own[i])  # type: ignore[index]
        start += len(options)
    return out


def option_consistency(
    similarities: Sequence[Any], predicted: Sequence[int | None]
) -> list[float | None]:
    """1.0 when the option most similar to the explanation is the student's answer, 0.0 when
    another is, None when the answer is unparseable (the explanation cannot agree with no
    answer) or the explanation is empty (all similarities 0)."""
    import numpy as np

    out: list[float | None] = []
    for sims, p in zip(similarities, predicted, strict=True):
        if p is None or not np.any(sims):
            out.append(None)
        else:
            out.append(float(int(np.argmax(sims)) == p))
    return out


def probe_consistency(predictions: pl.DataFrame, primary_view: str) -> pl.DataFrame:
    """Per (run, example): 1.0 when the ``consistency`` probe (own explanation as rationale)
    answers the option the student answered in ``primary_view``; 0.0 when it answers another
    or nothing; rows whose own answer is unparseable are left out. Columns RUN, example_id,
    value."""
    own = predictions.filter(pl.col("view") == primary_view).select(
        *RUN, "example_id", own="predicted_index"
    )
    probe = predictions.filter(pl.col("view") == "consistency").select(
        *RUN, "example_id", probe="predicted_index"
    )
    return (
        probe.join(own, on=[*RUN, "example_id"])
        .filter(pl.col("own").is_not_null())
        .select(
            *RUN,
            "example_id",
            value=(pl.col("probe") == pl.col("own")).fill_null(False).cast(pl.Float64),
        )
    )


def counterfactual_faithfulness(predictions: pl.DataFrame) -> pl.DataFrame:
    """Per (run, example): the share of its ``counterfactual`` probes (a teacher rationale for
    a wrong option in the input) whose answer is that option (SCOTT's counterfactual
    faithfulness: the student's answer follows the rationale it is given). Columns RUN,
    example_id, value."""
    return (
        predictions.filter(pl.col("view") == "counterfactual")
        .group_by(*RUN, "example_id", maintain_order=True)
        .agg(
            value=(pl.col("predicted_index") == pl.col("rationale_option"))
            .fill_null(False)
            .mean()
            .cast(pl.Float64)
        )
    )


def simulation_features(
    embed: Embed,
    tasks: Sequence[str],
    explanations: Sequence[str],
    choices: Sequence[Sequence[str]],
    benchmarks: Sequence[str],
) -> tuple[list[Any], list[Any]]:
    """Per example, the simulator's input features ``x`` (options × (positions + 1): one-hot
    option position, cosine(task, option)) and explanation features ``e`` (options × 3:
    cosine(explanation, option), the explanation names the option, the explanation states it
    as its answer)."""
    import numpy as np

    n_pos = max((len(c) for c in choices), default=0)
    task_sims = option_similarities(embed, list(tasks), choices)
    expl_sims = option_similarities(embed, list(explanations), choices)
    frame = pl.DataFrame(
        {
            "row_id": list(range(len(explanations))),
            "text": list(explanations),
            "scope": list(explanations),
            "choices": [list(c) for c in choices],
            "answer_index": [0] * len(explanations),  # unused by option_mentions' `named`
            "benchmark": list(benchmarks),
        },
        schema_overrides={"choices": pl.List(pl.String)},
    )
    named = {
        (r["rid"], r["opt_idx"]): r["named"] for r in option_mentions(frame).iter_rows(named=True)
    }
    stated = dict(
        extract_answers(frame, bare=False).select("row_id", "predicted_index").iter_rows()
    )
    xs, es = [], []
    for i, options in enumerate(choices):
        k = len(options)
        position = np.eye(n_pos)[:k]
        xs.append(np.hstack([position, task_sims[i].reshape(-1, 1)]))
        es.append(
            np.column_stack(
                [
                    expl_sims[i],
                    [float(named.get((i, j), False)) for j in range(k)],
                    [float(stated.get(i) == j) for j in range(k)],
                ]
            )
        )
    return xs, es


# ------------------------------------------------------------------ one run, all metrics


def _long(frame: pl.DataFrame, metric: str, values: Sequence[float | None]) -> pl.DataFrame:
    return frame.select(*RUN, "example_id").with_columns(
        metric=pl.lit(metric), value=pl.Series(list(values), dtype=pl.Float64)
    )


def explanation_metrics(
    explanations: pl.DataFrame,
    predictions: pl.DataFrame,
    *,
    primary_view: str,
    metrics: Sequence[str] = METRICS,
    embed: Embed | None = None,
    folds: int = 5,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every requested metric of every explanation (``METRIC_SCHEMA``) and per run
    (``SUMMARY_SCHEMA``).

    ``explanations``: ``<ns>.explanations`` rows (RUN, example_id, task, choices, gold_index,
    explanation, reference, predicted_index); ``predictions``: ``<ns>.predictions`` (for the
    probe metrics); ``embed``: needed by the embedding metrics and LAS.
    """
    if EMBEDDING_METRICS & set(metrics) and embed is None:
        raise ValueError(f"metrics {sorted(EMBEDDING_METRICS & set(metrics))} need an embedder")
    parts = [pl.DataFrame(schema=METRIC_SCHEMA)]
    summary_extra: list[dict[str, Any]] = []
    for _, run in explanations.group_by(RUN, maintain_order=True):
        texts = run["explanation"].to_list()
        choices = run["choices"].to_list()
        if "words" in metrics:
            parts.append(_long(run, "words", word_lengths(texts)))
        if "distractors" in metrics:
            counts = distractor_mentions(texts, choices, run["gold_index"].to_list())
            parts.append(_long(run, "distractors", counts))
        if "rouge_l" in metrics:
            parts.append(_long(run, "rouge_l", rouge_l(texts, run["reference"].to_list())))
        if "embedding_similarity" in metrics:
            sims = cosine_similarities(embed, texts, run["reference"].to_list())  # type: ignore[arg-type]
            parts.append(_long(run, "embedding_similarity", sims))
        if "option_consistency" in metrics:
            sims = option_similarities(embed, texts, choices)  # type: ignore[arg-type]
            values = option_consistency(sims, run["predicted_index"].to_list())
            parts.append(_long(run, "option_consistency", values))
        if "las" in metrics:
            part, row = _las(run, embed, folds=folds, seed=seed)  # type: ignore[arg-type]
            parts.append(part)
            summary_extra.append(row)
    if "probe_consistency" in metrics:
        parts.append(
            probe_consistency(predictions, primary_view).with_columns(
                metric=pl.lit("probe_consistency")
            )
        )
    if "cf_faithfulness" in metrics:
        parts.append(
            counterfactual_faithfulness(predictions).with_columns(metric=pl.lit("cf_faithfulness"))
        )
    per_example = pl.concat(
        [p.select(METRIC_SCHEMA.names()).cast(dict(METRIC_SCHEMA)) for p in parts]
    ).drop_nulls("value")
    return per_example, summarize_metrics(
        per_example, summary_extra, resamples=resamples, seed=seed
    )


def _las(run: pl.DataFrame, embed: Embed, *, folds: int, seed: int) -> tuple[pl.DataFrame, dict]:
    usable = run.filter(pl.col("predicted_index").is_not_null())
    meta = run.row(0, named=True)
    row = {k: meta[k] for k in RUN} | {"metric": "las", "n": usable.height, "value": None}
    if usable.is_empty():
        return pl.DataFrame(schema=METRIC_SCHEMA), row
    xs, es = simulation_features(
        embed,
        usable["task"].to_list(),
        usable["explanation"].to_list(),
        usable["choices"].to_list(),
        usable["benchmark"].to_list(),
    )
    result = leakage_adjusted_simulatability(
        xs,
        es,
        usable["predicted_index"].to_list(),
        folds=folds,
        seed=seed,
        groups=usable["example_id"].to_list(),
    )
    row["value"] = result.las
    if result.las is None:
        return pl.DataFrame(schema=METRIC_SCHEMA), row
    gains = [float(a) - float(b) for a, b in zip(result.sim_xe, result.sim_x, strict=True)]
    per_example = pl.concat(
        [
            _long(usable, "las_gain", gains),
            _long(usable, "leaking", [float(v) for v in result.leaking]),
        ]
    )
    return per_example, row


def summarize_metrics(
    per_example: pl.DataFrame,
    extra: Sequence[dict[str, Any]] = (),
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> pl.DataFrame:
    """Mean of each metric per run with a bootstrap 95% CI (``SUMMARY_SCHEMA``), plus the
    run-level rows in ``extra`` (LAS)."""
    rows = []
    for group, part in per_example.group_by([*RUN, "metric"], maintain_order=True):
        values = part["value"].to_list()
        low, high = bootstrap_ci(values, resamples, seed)
        rows.append(
            dict(zip([*RUN, "metric"], group, strict=True))
            | {"n": len(values), "value": sum(values) / len(values), "ci_low": low, "ci_high": high}
        )
    rows += [r | {"ci_low": None, "ci_high": None} for r in extra]
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
