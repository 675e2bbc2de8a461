"""Deterministic, seeded subsampling and dev-split carving.

Selection does not depend on row order or on the polars version: every example gets the key
``sha256("{seed}:{example_id}")`` and the examples with the smallest keys are kept. The kept rows
stay in source order. The same seed and ids therefore always give the same subset, and a larger
``n`` keeps every example a smaller ``n`` kept.
"""

from __future__ import annotations

import hashlib
import math

import polars as pl
from pydantic import Field, model_validator

from llm_distillation.config import StrictModel


def _keys(ids: pl.Series, seed: int) -> pl.Series:
    return pl.Series(
        [int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") for i in ids],
        dtype=pl.UInt64,
    )


def take_seeded(
    df: pl.DataFrame, *, n: int | None = None, fraction: float | None = None, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into (kept, rest): ``n`` rows, or ``round(fraction · len)`` rows, chosen by
    seeded hash of ``example_id``. With neither, everything is kept."""
    if n is None and fraction is None:
        return df, df.clear()
    count = n if n is not None else math.floor(len(df) * float(fraction) + 0.5)
    count = min(count, len(df))
    keyed = df.with_row_index("_order").with_columns(_key=_keys(df["example_id"], seed))
    chosen = keyed.sort("_key").head(count)["_order"]
    mask = keyed["_order"].is_in(chosen.implode())
    kept = keyed.filter(mask).drop("_order", "_key")
    rest = keyed.filter(~mask).drop("_order", "_key")
    return kept, rest


class Subsample(StrictModel):
    """Keep ``n`` examples, or a ``fraction`` of them (seeded); neither keeps all."""

    n: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_of(self) -> Subsample:
        if self.n is not None and self.fraction is not None:
            raise ValueError("give either n or fraction, not both")
        return self
