"""Polars Parquet tables whose kedro-viz previews show nested columns."""

from __future__ import annotations

import polars as pl
from kedro_datasets._typing import TablePreview
from kedro_datasets.polars import EagerPolarsDataset


def preview_frame(data: pl.DataFrame) -> TablePreview:
    """A JSON-serialisable table preview: list and struct cells become JSON text."""
    nested = [n for n, t in data.schema.items() if isinstance(t, pl.List | pl.Struct | pl.Array)]
    flat = data.with_columns(
        pl.col(n).map_elements(_to_json, return_dtype=pl.String) for n in nested
    )
    return TablePreview(
        {
            "index": list(range(flat.height)),
            "columns": flat.columns,
            "data": [list(row) for row in flat.iter_rows()],
        }
    )


def _to_json(value: object) -> str:
    import json

    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value, ensure_ascii=False, default=str)


class PolarsTableDataset(EagerPolarsDataset):
    """``polars.EagerPolarsDataset`` (use ``file_format: parquet``) with a kedro-viz preview
    that works for list columns such as ``choices`` and ``explanations``."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return preview_frame(self._copy().load().head(nrows))
