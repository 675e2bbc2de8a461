"""Figures: each returns a Figure that draws its data; bad tables get clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest

from llm_distillation.reporting import figures
from llm_distillation.reporting.style import OKABE_ITO, STUDY_CONDITION_COLORS, condition_colors

SUMMARY = pl.DataFrame(
    {
        "size": ["220M", "220M", "770M", "770M"],
        "condition": ["CF:Unrevised", "MT:Unrevised"] * 2,
        "mean": [52.0, 64.0, 69.0, 75.5],
        "se": [1.0, 0.3, 0.6, 0.3],
    }
)


def test_condition_colours_are_stable_and_colour_blind_safe() -> None:
    colors = condition_colors(["MT+CF:Revised", "standard", "CF:Unrevised", "other"])
    assert colors["MT+CF:Revised"] == STUDY_CONDITION_COLORS["MT+CF:Revised"]
    assert colors["CF:Unrevised"] == STUDY_CONDITION_COLORS["CF:Unrevised"]
    assert set(colors.values()) <= set(OKABE_ITO)
    assert len(set(colors.values())) == 4


@pytest.mark.parametrize("n", [5, 9, 16, 30])
def test_every_condition_has_its_own_colour(n: int) -> None:
    # the default's five condition keys once shared a colour (four free Okabe-Ito colours)
    names = ["Standard", "CF:Unrevised", *(f"c{i}" for i in range(n - 2))]
    colors = condition_colors(names)
    assert len(colors) == n
    assert len(set(colors.values())) == n
    assert colors["CF:Unrevised"] == STUDY_CONDITION_COLORS["CF:Unrevised"]


def _evaluation_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    conditions = ["Standard", "MT:Unrevised", "MT+CF:Unrevised", "MT+CF:Revised", "CF:Unrevised"]
    summary = pl.DataFrame(
        {
            "benchmark": ["cqa"] * 5,
            "size": ["135M"] * 5,
            "condition": conditions,
            "mean": [23.0, 31.5, 28.0, 30.0, 25.0],
            "se": [None] * 5,
        },
        schema_overrides={"se": pl.Float64},
    )
    cells = pl.DataFrame(
        {
            "benchmark": ["cqa"] * 5,
            "student": ["135M"] * 5,
            "condition": conditions,
            "parseable": [1.0, 0.95, 0.9, 0.92, 0.97],
            "chance": [0.2] * 5,
        }
    )
    return summary, cells


def test_evaluation_accuracy_has_chance_line_and_unparseable_panel() -> None:
    summary, cells = _evaluation_inputs()
    fig = figures.evaluation_accuracy(summary, cells)
    acc_ax, unp_ax = fig.axes[0], fig.axes[1]
    chance = [line for line in acc_ax.lines if line.get_label().startswith("chance")]
    assert len(chance) == 1
    assert set(chance[0].get_ydata()) == {20.0}
    assert sorted(p.get_height() for p in acc_ax.patches) == sorted(summary["mean"].to_list())
    assert acc_ax.get_ylim()[0] == 0.0  # accuracy from 0: near chance, nothing is hidden
    unparseable = sorted(p.get_height() for p in unp_ax.patches)
    assert unparseable == pytest.approx([0.0, 3.0, 5.0, 8.0, 10.0])
    assert unp_ax.get_xlabel() == "Student"
    assert [t.get_text() for t in unp_ax.get_xticklabels()] == ["135M"]
    colours = {p.get_facecolor() for p in acc_ax.patches}
    assert len(colours) == 5  # every condition its own colour
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "chance (20%)" in legend and "MT+CF:Revised" in legend
    assert len(figures.figure_png(fig)) > 1000


def test_evaluation_accuracy_without_recorded_parseability() -> None:
    summary, cells = _evaluation_inputs()
    cells = cells.with_columns(pl.lit(None, dtype=pl.Float64).alias("parseable"))
    fig = figures.evaluation_accuracy(summary, cells)
    assert "not recorded" in [t.get_text() for t in fig.axes[1].texts]


def test_accuracy_by_condition_draws_every_bar() -> None:
    fig = figures.accuracy_by_condition(SUMMARY)
    ax = fig.axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx(sorted(SUMMARY["mean"].to_list()))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["220M", "770M"]
    low, high = ax.get_ylim()
    assert low <= 51.0 and high >= 75.8
    assert "axis from" in ax.get_ylabel()
    assert len(figures.figure_png(fig)) > 1000


def test_rating_items_in_item_order() -> None:
    summary = pl.DataFrame(
        {
            "item": ["Plausibility", "Completeness", "Quality"] * 2,
            "condition": ["A"] * 3 + ["B"] * 3,
            "mean": [4.0, 3.8, 3.9, 4.2, 4.1, 4.0],
            "se": [0.05] * 6,
        }
    )
    fig = figures.rating_items(summary, ["Plausibility", "Completeness"])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["Plausibility", "Completeness"]
    assert len(fig.axes[0].patches) == 4


def test_training_curves_one_panel_per_cell() -> None:
    rows = [
        {
            "cell": c,
            "seed": s,
            "step": step,
            "split": split,
            "metric": "loss",
            "value": 1.0 / (step + 1) + s,
        }
        for c in ("mt", "cf", "mtcf", "std")
        for s in (0, 1)
        for split in ("train", "dev")
        for step in range(0, 100, 25)
    ]
    fig = figures.training_curves(pl.DataFrame(rows), "loss", ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["cf", "mt", "mtcf", "std"]
    assert len(visible[0].lines) == 4  # 2 seeds x 2 splits
    with pytest.raises(ValueError, match="no rows with metric 'accuracy'"):
        figures.training_curves(pl.DataFrame(rows), "accuracy")
    with pytest.raises(ValueError, match="missing columns"):
        figures.training_curves(pl.DataFrame(rows).drop("split"), "loss")


def test_distribution_numeric_and_boolean() -> None:
    rng = np.random.default_rng(0)
    table = pl.DataFrame(
        {
            "condition": ["A"] * 50 + ["B"] * 50,
            "length": np.concatenate([rng.normal(200, 30, 50), rng.normal(350, 60, 50)]),
            "mentions_distractor": [True] * 10 + [False] * 40 + [True] * 30 + [False] * 20,
        }
    )
    fig = figures.distribution_by_condition(table, "length", label="Length")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("A (median")
    fig = figures.distribution_by_condition(table, "mentions_distractor", label="Distractor")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([20.0, 60.0])


def test_metric_vs_rating_reports_spearman() -> None:
    table = pl.DataFrame(
        {"condition": ["A", "B"] * 20, "m": np.arange(40.0), "r": np.arange(40.0) % 5 + 1}
    )
    fig = figures.metric_vs_rating(table, "m", "r")
    assert fig.axes[0].get_title().startswith("Spearman ρ = ")
    assert len(fig.axes[0].collections) == 2
