"""Figures of rationales (``reporting``): their distribution per condition, and an automatic
metric against a human rating. Drawn like :mod:`llm_distillation.reporting.figures` (which
lists them with the other figures); none reads files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from llm_distillation.reporting.style import (
    SINGLE_COLUMN,
    condition_colors,
    need_columns,
    ordered,
    style,
    subplots,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def distribution_by_condition(
    table: pl.DataFrame,
    value: str,
    *,
    label: str,
    group: str = "condition",
    conditions: Sequence[str] | None = None,
    bins: int = 30,
) -> Figure:
    """Distribution of ``value`` per condition (e.g. rationale length in characters, or whether
    a rationale mentions a distractor): numeric -> overlaid step histograms (share of rows) with
    each condition's median marked; boolean -> share of True ± SE per condition."""
    need_columns(table, [value, group], "distribution")
    groups = ordered(table[group].cast(pl.String).to_list(), conditions)
    colors = condition_colors(groups)
    col = table[group].cast(pl.String)
    with style():
        fig, ax = subplots(figsize=(SINGLE_COLUMN * 1.7, 2.6), layout="constrained")
        if table.schema[value] == pl.Boolean:
            shares = []
            for g in groups:
                x = table.filter(col == g)[value].cast(pl.Float64).to_numpy()
                p = x.mean() if x.size else np.nan
                shares.append((p, np.sqrt(p * (1 - p) / x.size) if x.size else np.nan))
            pos = np.arange(len(groups))
            ax.bar(
                pos,
                [s[0] * 100 for s in shares],
                0.7,
                color=[colors[g] for g in groups],
                yerr=[s[1] * 100 for s in shares],
                ecolor="#333333",
            )
            long_labels = sum(len(g) for g in groups) > 48  # would overlap unrotated
            ax.set_xticks(
                pos,
                groups,
                rotation=15 if long_labels else 0,
                ha="right" if long_labels else "center",
            )
            ax.set_ylabel(f"{label} (% of rows ± SE)")
        else:
            data = table.select(pl.col(value).cast(pl.Float64), col.alias("_g")).drop_nulls()
            edges = np.histogram_bin_edges(data[value].to_numpy(), bins=bins)
            for g in groups:
                x = data.filter(pl.col("_g") == g)[value].to_numpy()
                if x.size == 0:
                    continue
                weights = np.full(x.size, 100.0 / x.size)
                ax.hist(
                    x,
                    bins=edges,
                    weights=weights,
                    histtype="step",
                    color=colors[g],
                    linewidth=1.5,
                    label=f"{g} (median {np.median(x):.0f})",
                )
                ax.axvline(np.median(x), color=colors[g], linestyle=":", linewidth=1.0)
            ax.set_xlabel(label)
            ax.set_ylabel("Share of rows (%)")
            ax.legend(frameon=False, loc="upper right")
    return fig


def metric_vs_rating(
    table: pl.DataFrame,
    metric: str,
    rating: str,
    *,
    metric_label: str | None = None,
    rating_label: str | None = None,
    group: str = "condition",
    conditions: Sequence[str] | None = None,
    jitter: float = 0.15,
) -> Figure:
    """Scatter of an automatic metric (x) against a human rating (y), coloured by condition,
    with Spearman's rho over all points in the title. Ratings are jittered by ± ``jitter``
    (seeded; under half the rating's step) so that equal ratings do not hide each other."""
    from scipy import stats

    need_columns(table, [metric, rating, group], "metric vs rating")
    data = table.select(
        pl.col(metric).cast(pl.Float64),
        pl.col(rating).cast(pl.Float64),
        pl.col(group).cast(pl.String),
    ).drop_nulls()
    groups = ordered(data[group].to_list(), conditions)
    colors = condition_colors(groups)
    rng = np.random.default_rng(0)
    rho = stats.spearmanr(data[metric], data[rating]) if data.height > 2 else None
    with style():
        fig, ax = subplots(figsize=(SINGLE_COLUMN * 1.5, 2.8), layout="constrained")
        for g in groups:
            part = data.filter(pl.col(group) == g)
            noise = rng.uniform(-jitter, jitter, part.height)
            ax.scatter(
                part[metric],
                part[rating] + noise,
                s=9,
                alpha=0.6,
                color=colors[g],
                label=g,
                linewidths=0,
            )
        ax.set_xlabel(metric_label or metric)
        ax.set_ylabel(rating_label or rating)
        ax.grid(True, axis="both")
        if rho is not None:
            ax.set_title(
                f"Spearman ρ = {rho.statistic:.2f} (p = {_p_text(rho.pvalue)}, n = {data.height})",
                fontsize=9,
            )
        ax.legend(
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            title="Condition",
            markerscale=1.5,
        )
    return fig


def _p_text(p: float) -> str:
    from llm_distillation.reporting.sentences import format_p

    return format_p(p, prefix=False)
