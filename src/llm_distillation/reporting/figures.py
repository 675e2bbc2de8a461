"""Figures of ``reporting``: matplotlib ``Figure`` objects (saved by the catalog's
``matplotlib.MatplotlibDataset``), all in :mod:`llm_distillation.reporting.style`.

Each function takes a polars table in a documented layout and draws it; none reads files.
The figures of rationales live in :mod:`llm_distillation.reporting.rationale_figures` and are
importable from here too, so that this module lists every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import polars as pl

from llm_distillation.reporting.rationale_figures import (  # the figure catalogue, in one place
    distribution_by_condition,
    metric_vs_rating,
)
from llm_distillation.reporting.style import (
    DOUBLE_COLUMN,
    OKABE_ITO,
    SINGLE_COLUMN,
    SPLIT_COLORS,
    condition_colors,
    need_columns,
    ordered,
    style,
    subplots,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _draw_grouped_bars(
    ax: Any,
    summary: pl.DataFrame,
    x: str,
    group: str,
    *,
    xs: Sequence[str],
    groups: Sequence[str],
    colors: dict[str, str],
    value_format: str | None = "{:.1f}",
    err: str | None = "se",
) -> None:
    """Draw bars of ``mean`` (± ``err`` when given) per ``x`` (clusters, in ``xs`` order) and
    ``group`` (colours) on ``ax``, with the value above each bar unless ``value_format`` is
    None; a missing (or non-finite) mean draws no bar and no value."""
    bar_w = 0.8 / len(groups)
    lookup = {
        (str(r[x]), str(r[group])): (r["mean"], r[err] if err else None)
        for r in summary.iter_rows(named=True)
    }
    for gi, g in enumerate(groups):
        pos = np.arange(len(xs)) + (gi - (len(groups) - 1) / 2) * bar_w
        vals = [lookup.get((xv, g), (None, None)) for xv in xs]
        means = np.array([np.nan if v[0] is None else v[0] for v in vals], dtype=float)
        ses = np.nan_to_num(np.array([np.nan if v[1] is None else v[1] for v in vals], dtype=float))
        ax.bar(pos, means, bar_w * 0.92, color=colors[g], label=g, edgecolor="white")
        if err:
            ax.errorbar(pos, means, yerr=ses, fmt="none", ecolor="#333333", elinewidth=0.9)
        for p, m, s in zip(pos, means, ses, strict=True):
            if value_format is not None and np.isfinite(m):
                ax.annotate(
                    value_format.format(m),
                    (p, m + s),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(np.arange(len(xs)), xs)


def grouped_bars(
    summary: pl.DataFrame,
    x: str,
    group: str,
    *,
    x_order: Sequence[str] | None = None,
    group_order: Sequence[str] | None = None,
    ylabel: str,
    xlabel: str,
    legend_title: str,
    ylim: tuple[float, float] | None = None,
    value_format: str | None = "{:.1f}",
    width: float = DOUBLE_COLUMN,
    height: float = 2.8,
    legend: str = "right",
) -> Figure:
    """Bars of ``mean`` with ± ``se`` error bars, per ``x`` (clusters) and ``group`` (colours);
    the value is written above each bar unless ``value_format`` is None. ``legend``: "right"
    (beside the axes) or "top" (above, in one row: leaves the width to the clusters)."""

    need_columns(summary, [x, group, "mean", "se"], "grouped bars")
    xs = ordered(summary[x].cast(pl.String).to_list(), x_order)
    groups = ordered(summary[group].cast(pl.String).to_list(), group_order)
    colors = condition_colors(groups)
    with style():
        fig, ax = subplots(figsize=(width, height), layout="constrained")
        _draw_grouped_bars(
            ax, summary, x, group, xs=xs, groups=groups, colors=colors, value_format=value_format
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if legend == "top":
            fig.legend(
                *ax.get_legend_handles_labels(),
                title=legend_title,
                loc="outside upper center",
                ncols=len(groups),
                frameon=False,
            )
        else:
            ax.legend(
                title=legend_title, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False
            )
    return fig


def _padded_limits(
    summary: pl.DataFrame, step: float, floor: float | None = None, ceiling: float | None = None
) -> tuple[float, float]:
    low = float((summary["mean"] - summary["se"].fill_null(0)).min())
    high = float((summary["mean"] + summary["se"].fill_null(0)).max())
    lo = np.floor(low / step) * step - step
    hi = np.ceil(high / step) * step + step
    if floor is not None:
        lo = max(lo, floor)
    if ceiling is not None:
        hi = min(hi, ceiling)
    return float(lo), float(hi)


class _ValueAxis(NamedTuple):
    """A bar figure's value axis: it starts just below the lowest bar (in ``step``s, within
    ``bounds``), and ``label`` says where, as ``{start}``."""

    label: str
    step: float
    bounds: tuple[float, float]


_ACCURACY_AXIS = _ValueAxis("Test accuracy (%, axis from {start:.0f})", 5.0, (0.0, 100.0))
_RATING_AXIS = _ValueAxis("Mean rating (1-5, axis from {start:.2f})", 0.25, (1.0, 5.0))


def _condition_bars(
    summary: pl.DataFrame,
    x: str,
    axis: _ValueAxis,
    conditions: Sequence[str] | None,
    title: str | None,
    **options: Any,
) -> Figure:
    """:func:`grouped_bars` of ``summary`` per ``x`` and condition on ``axis``, with the study's
    legend and ``title``; ``options`` go to :func:`grouped_bars`."""
    ylim = _padded_limits(summary, axis.step, *axis.bounds)
    fig = grouped_bars(
        summary,
        x,
        "condition",
        group_order=conditions,
        ylabel=axis.label.format(start=ylim[0]),
        legend_title="Training method : data",
        ylim=ylim,
        **options,
    )
    if title:
        fig.suptitle(title)
    return fig


def accuracy_by_condition(
    summary: pl.DataFrame,
    conditions: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str = "Student model size",
) -> Figure:
    """The study's main figure: mean test accuracy (%) ± SE per model size and condition.

    ``summary``: ``size, condition, mean, se`` (one stage of
    :func:`llm_distillation.reporting.performance.analyse_performance`'s summary). The y axis
    starts near the lowest bar (as the study's 50-80 % axis), said in the axis label.
    """
    return _condition_bars(
        summary,
        "size",
        _ACCURACY_AXIS,
        conditions,
        title,
        xlabel=xlabel,
        width=SINGLE_COLUMN * 1.7,
    )


EVALUATION_CELL_COLUMNS = ("benchmark", "student", "condition", "parseable", "chance")


def evaluation_accuracy(
    summary: pl.DataFrame,
    cells: pl.DataFrame,
    conditions: Sequence[str] | None = None,
    students: Sequence[str] | None = None,
) -> Figure:
    """This project's accuracy figure: one column of panels per benchmark; above, mean test
    accuracy (%) ± SE over seeds per student and condition, with the benchmark's chance level
    as a dashed line (one ``Line2D`` labelled ``chance …``); below, each cell's share of
    unparseable answers (%), the same bars in the same colours.

    ``summary``: ``benchmark, size`` (the student's label), ``condition, mean, se`` (one stage
    of the analysis summary); ``cells``: :data:`EVALUATION_CELL_COLUMNS`
    (:func:`llm_distillation.reporting.scope.cell_table`). Every condition has its own colour;
    the accuracy axis starts at 0.
    """

    need_columns(summary, ["benchmark", "size", "condition", "mean", "se"], "evaluation accuracy")
    need_columns(cells, EVALUATION_CELL_COLUMNS, "evaluation accuracy cells")
    benchmarks = sorted(set(summary["benchmark"].to_list()) | set(cells["benchmark"].to_list()))
    groups = ordered(
        summary["condition"].cast(pl.String).to_list() + cells["condition"].to_list(), conditions
    )
    colors = condition_colors(groups)
    unparseable = cells.select(
        "benchmark",
        pl.col("student").alias("size"),
        "condition",
        ((1.0 - pl.col("parseable")) * 100).alias("mean"),
    )
    top = float((summary["mean"] + summary["se"].fill_null(0)).max() or 0.0)
    top = max(top, float((cells["chance"].max() or 0.0) * 100))
    ylim = (0.0, min(100.0, np.ceil((top + 8.0) / 10.0) * 10.0))
    with style():
        fig, axes = subplots(
            2,
            len(benchmarks),
            figsize=(max(SINGLE_COLUMN * 1.7, 3.0 * len(benchmarks) + 1.0), 4.2),
            sharex="col",
            squeeze=False,
            height_ratios=[3, 1.4],
            layout="constrained",
        )
        for col, benchmark in enumerate(benchmarks):
            acc_ax, unp_ax = axes[0, col], axes[1, col]
            part = summary.filter(pl.col("benchmark") == benchmark)
            cell_part = cells.filter(pl.col("benchmark") == benchmark)
            xs = ordered(
                part["size"].cast(pl.String).to_list() + cell_part["student"].to_list(), students
            )
            _draw_grouped_bars(
                acc_ax, part, "size", "condition", xs=xs, groups=groups, colors=colors
            )
            chance = cell_part["chance"].drop_nulls()
            if chance.len():
                level = float(chance[0]) * 100
                acc_ax.axhline(
                    level,
                    color="#555555",
                    linestyle="--",
                    linewidth=1.0,
                    label=f"chance ({level:.0f}%)",
                    zorder=3,
                )
            acc_ax.set_ylim(*ylim)
            acc_ax.set_title(benchmark)
            unp_part = unparseable.filter(pl.col("benchmark") == benchmark)
            _draw_grouped_bars(
                unp_ax,
                unp_part,
                "size",
                "condition",
                xs=xs,
                groups=groups,
                colors=colors,
                value_format="{:.0f}",
                err=None,
            )
            if unp_part["mean"].null_count() == unp_part.height:
                unp_ax.text(0.5, 0.5, "not recorded", transform=unp_ax.transAxes, ha="center")
            unp_ax.set_ylim(0, 115)
            unp_ax.set_yticks([0, 50, 100])
            unp_ax.set_xlabel("Student")
        axes[0, 0].set_ylabel("Test accuracy (%)")
        axes[1, 0].set_ylabel("Unparseable (%)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside upper center",
            ncols=min(len(labels), 3),
            frameon=False,
        )
    return fig


def rating_items(
    summary: pl.DataFrame,
    items: Sequence[str],
    conditions: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Mean rating (1-5) ± SE of each item per condition (no value labels: the report's table
    has them). ``summary``: ``item, condition, mean, se``
    (:func:`llm_distillation.reporting.explainability.analyse_explainability`)."""
    part = summary.filter(pl.col("item").is_in(list(items)))
    return _condition_bars(
        part,
        "item",
        _RATING_AXIS,
        conditions,
        title,
        xlabel="Rating item",
        x_order=items,
        value_format=None,
        legend="top",
        height=3.0,
    )


TRAINING_CURVE_COLUMNS = ("cell", "seed", "step", "split", "metric", "value")


def training_curves(
    curves: pl.DataFrame, metric: str, cells: Sequence[str] | None = None, ncols: int = 3
) -> Figure:
    """``metric`` against step, one panel per matrix cell, a line per (split, seed): colour =
    split, line style = seed. ``curves``: :data:`TRAINING_CURVE_COLUMNS`."""

    need_columns(curves, TRAINING_CURVE_COLUMNS, "training curves")
    part = curves.filter(pl.col("metric") == metric)
    if part.height == 0:
        raise ValueError(f"training curves: no rows with metric {metric!r}")
    cell_names = ordered(part["cell"].to_list(), cells)
    splits = ordered(part["split"].to_list(), ["train", "dev", "test"])
    spare = [c for c in OKABE_ITO if c not in SPLIT_COLORS.values()]
    split_colors = {
        split: SPLIT_COLORS.get(split) or spare[i % len(spare)] for i, split in enumerate(splits)
    }
    styles = ["-", "--", ":", "-."]
    ncols = min(ncols, len(cell_names))
    nrows = int(np.ceil(len(cell_names) / ncols))
    with style():
        fig, axes = subplots(
            nrows,
            ncols,
            figsize=(DOUBLE_COLUMN, 2.0 * nrows + 0.6),
            sharex=True,
            sharey=True,
            squeeze=False,
            layout="constrained",
        )
        for ax, cell in zip(axes.flat, cell_names, strict=False):
            rows = part.filter(pl.col("cell") == cell)
            for si, seed in enumerate(sorted(rows["seed"].unique().to_list())):
                for split in splits:
                    line = rows.filter((pl.col("seed") == seed) & (pl.col("split") == split))
                    if line.height == 0:
                        continue
                    line = line.sort("step")
                    ax.plot(
                        line["step"],
                        line["value"],
                        color=split_colors[split],
                        linestyle=styles[si % len(styles)],
                        label=f"{split}, seed {seed}",
                    )
            ax.set_title(cell, fontsize=9)
            ax.grid(True, axis="both")
        for ax in list(axes.flat)[len(cell_names) :]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("Step")
        for ax in axes[:, 0]:
            ax.set_ylabel(metric)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(4, len(labels)), frameon=False
        )
    return fig


def figure_png(fig: Figure, dpi: int = 200) -> bytes:
    """The figure as PNG bytes (for embedding in the report)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


__all__: list[Any] = [
    "accuracy_by_condition",
    "distribution_by_condition",
    "evaluation_accuracy",
    "figure_png",
    "grouped_bars",
    "metric_vs_rating",
    "rating_items",
    "training_curves",
]
