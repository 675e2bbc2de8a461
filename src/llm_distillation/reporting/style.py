"""One look for every figure of ``reporting``: Okabe-Ito colours, readable sizes.

Figures are sized for a paper column (:data:`SINGLE_COLUMN` inches wide) or the full text width
(:data:`DOUBLE_COLUMN`), with fonts that stay readable at that size and saved at 200 dpi (sharp
on a screen). Conditions keep one colour everywhere (:func:`condition_colors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow (low contrast on white: last)
    "#000000",  # black
)
"""Okabe & Ito (2008), the colour-blind-safe qualitative palette."""

STUDY_CONDITION_COLORS: dict[str, str] = {
    "CF:Unrevised": "#E69F00",
    "MT:Unrevised": "#56B4E9",
    "MT+CF:Unrevised": "#009E73",
    "MT+CF:Revised": "#0072B2",
}

SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.0
DPI = 200

RC_PARAMS: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "lines.linewidth": 1.4,
    "errorbar.capsize": 2.5,
}


EXTRA_COLORS: tuple[str, ...] = (
    "#882255",  # wine (Paul Tol's muted scheme, after Okabe-Ito runs out)
    "#44AA99",  # teal
    "#999933",  # olive
    "#AA4499",  # purple
    "#661100",  # brown
    "#6699CC",  # light blue
    "#888888",  # grey
)
"""Colours for conditions beyond the eight of :data:`OKABE_ITO` (none repeats one of them)."""


def condition_colors(conditions: Sequence[str]) -> dict[str, str]:
    """A distinct colour per condition: the study's four keep theirs; the others take the free
    Okabe-Ito colours in order (vermillion, reddish purple, black, then yellow), then the study
    colours that no present condition uses, then :data:`EXTRA_COLORS`, then evenly spaced hues
    (no two conditions ever share a colour)."""
    import colorsys

    conditions = list(dict.fromkeys(conditions))
    taken = {STUDY_CONDITION_COLORS[c] for c in conditions if c in STUDY_CONDITION_COLORS}
    free = [c for c in OKABE_ITO if c not in STUDY_CONDITION_COLORS.values()]
    free = [c for c in free if c != "#F0E442"] + ["#F0E442"]  # yellow is faint on white: last
    free += [c for c in STUDY_CONDITION_COLORS.values() if c not in taken]
    free += list(EXTRA_COLORS)
    others = [c for c in conditions if c not in STUDY_CONDITION_COLORS]
    if len(others) > len(free):
        extra = len(others) - len(free)
        free += [
            "#{:02X}{:02X}{:02X}".format(
                *(round(v * 255) for v in colorsys.hsv_to_rgb(i / extra, 0.65, 0.75))
            )
            for i in range(extra)
        ]
    out: dict[str, str] = {}
    spare = iter(free)
    for cond in conditions:
        out[cond] = STUDY_CONDITION_COLORS.get(cond) or next(spare)
    return out


SPLIT_COLORS: dict[str, str] = {"train": "#000000", "dev": "#D55E00", "test": "#CC79A7"}
"""Colours of data splits in training curves (none of them a study condition's colour)."""


@contextmanager
def style() -> Iterator[None]:
    """matplotlib (Agg backend) with :data:`RC_PARAMS`, for the duration of one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(RC_PARAMS):
        yield


def ordered(values: Sequence[str], order: Sequence[str] | None) -> list[str]:
    """``values``' distinct entries in ``order`` (those it lacks after, sorted); sorted when
    ``order`` is ``None``."""
    present = list(dict.fromkeys(values))
    if order is None:
        return sorted(present)
    return [v for v in order if v in present] + sorted(set(present) - set(order))


def need_columns(table: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    """Fail naming the figure (``what``) and the columns ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; expected {list(columns)}")


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> Any:
    """``(figure, axes)`` like ``plt.subplots``, but outside pyplot's figure registry: a figure
    is a node output that the catalog saves, and pyplot would keep every one of them open (and
    warn past 20). ``layout`` defaults to ``constrained``; other ``kwargs`` go to
    ``Figure.subplots``. Call it inside :func:`style`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=kwargs.pop("layout", "constrained"))
    return fig, fig.subplots(nrows, ncols, **kwargs)
