"""The human-rating round trip: a blinded rating sheet out, filled sheets back in as the
study's ``study.csv`` layout (``../shared/data/paper_results/SOURCE.md``).

- :func:`export_rating_sheet` -> (``sheet``, ``key``). The sheet has one row per explanation,
  shuffled with a seed, showing only the task, the student's answer and its explanation, and
  five empty 1-5 items (the study's Plausibility, Understandability, Completeness,
  Satisfaction, Contrastiveness). Nothing on it names the student, condition or seed: those
  are in the key, a separate file (sheet row -> cell, seed, example), kept from the raters.
- :func:`ingest_rating_sheets`: filled copies of one sheet (one file per rater) + its key ->
  one row per rating in ``study.csv``'s columns. Every problem raises
  :class:`RatingSheetError` naming the file, the row (its line in the CSV) and the field:
  missing or out-of-range ratings, unknown or duplicated row ids, and a sheet that does not
  match its key (another sheet id, an explanation that differs, rows missing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

import polars as pl

ITEMS: Final = (
    "Plausibility",
    "Understandability",
    "Completeness",
    "Satisfaction",
    "Contrastiveness",
)
SHEET_COLUMNS: Final = ("row_id", "sheet_id", "question", "answer", "explanation", *ITEMS)
KEY_SCHEMA: Final = pl.Schema(
    {
        "sheet_id": pl.String,
        "row_id": pl.Int64,
        "cell": pl.String,
        "benchmark": pl.String,
        "student": pl.String,
        "condition": pl.String,
        "model": pl.String,  # the condition's label, as study.csv's `model`
        "seed": pl.Int64,
        "example_id": pl.String,
        "explanation": pl.String,
    }
)
DEMOGRAPHICS: Final = ("gender", "age", "country", "education", "employement")  # sic, as study.csv
STUDY_COLUMNS: Final = (
    "CASE",
    "rationale",
    "Completeness",
    "Contrastiveness",
    "Plausibility",
    "Satisfaction",
    "Understandability",
    "rationale_id",
    "model",
    "rationale_length",
    *DEMOGRAPHICS,
)
"""The columns of the study's ``study.csv``, in its order."""
STUDY_SCHEMA: Final = pl.Schema(
    {
        "CASE": pl.Int64,
        "rationale": pl.String,
        **dict.fromkeys(STUDY_COLUMNS[2:7], pl.Int64),
        "rationale_id": pl.Int64,
        "model": pl.String,
        "rationale_length": pl.Int64,
        **dict.fromkeys(DEMOGRAPHICS, pl.String),
    }
)
RATERS_SCHEMA: Final = pl.Schema(
    {"file": pl.String, "CASE": pl.Int64, **dict.fromkeys(DEMOGRAPHICS, pl.String)}
)


class RatingSheetError(ValueError):
    """A filled rating sheet cannot be ingested; names the file, row and field."""

    def __init__(self, file: str, row: int | str, field: str, problem: str) -> None:
        self.file, self.row, self.field, self.problem = file, row, field, problem
        where = f"line {row}" if isinstance(row, int) else row
        super().__init__(f"{file}: {where}, field {field!r}: {problem}")


def export_rating_sheet(
    explanations: pl.DataFrame,
    *,
    seed: int = 0,
    per_run: int | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A blinded, shuffled rating sheet of ``explanations`` (``<ns>.explanations`` rows of any
    cells) and its key (``KEY_SCHEMA``).

    ``per_run``: at most this many explanations per (cell, seed) (the first by example id);
    ``labels``: condition -> study label for the key's ``model`` (default: the condition).
    Empty explanations are left out (nothing to rate). The shuffle is
    ``numpy.random.default_rng(seed).permutation``; ``sheet_id`` is a hash of the seed and the
    rows, printed on every sheet row and in the key.
    """
    import numpy as np

    rows = explanations.filter(pl.col("explanation").str.strip_chars().str.len_chars() > 0).sort(
        "cell", "seed", "example_id"
    )
    if per_run is not None:
        rows = rows.group_by("cell", "seed", maintain_order=True).head(per_run)
    order = np.random.default_rng(seed).permutation(rows.height)
    rows = rows[order.tolist()] if rows.height else rows
    digest = hashlib.sha256(
        "\n".join(
            [
                str(seed),
                *(
                    f"{r[0]}|{r[1]}|{r[2]}"
                    for r in rows.select("cell", "seed", "example_id").iter_rows()
                ),
            ]
        ).encode()
    ).hexdigest()[:12]
    labels = dict(labels or {})
    rows = rows.with_columns(
        row_id=pl.int_range(1, rows.height + 1, dtype=pl.Int64),
        sheet_id=pl.lit(digest),
        model=pl.col("condition").replace_strict(
            labels, default=pl.col("condition"), return_dtype=pl.String
        ),
    )
    sheet = rows.select(
        "row_id",
        "sheet_id",
        question="task",
        answer=pl.col("prediction"),
        explanation="explanation",
        **{item: pl.lit(None, pl.Int64) for item in ITEMS},
    )
    key = rows.select(KEY_SCHEMA.names()).cast(dict(KEY_SCHEMA))
    return sheet, key


def _line(index: int) -> int:
    """CSV line of a data row (the header is line 1)."""
    return index + 2


def _check_sheet(name: str, sheet: pl.DataFrame, key: pl.DataFrame) -> pl.DataFrame:
    """The validated ratings of one filled sheet: row_id and the five items (Int64)."""
    missing = [c for c in SHEET_COLUMNS if c not in sheet.columns]
    if missing:
        raise RatingSheetError(
            name, "header", missing[0], f"column missing (expected {list(SHEET_COLUMNS)})"
        )
    sheet_ids = set(key["sheet_id"].unique().to_list())
    by_id = {r["row_id"]: r for r in key.iter_rows(named=True)}
    seen: dict[int, int] = {}
    out = []
    for i, row in enumerate(sheet.iter_rows(named=True)):
        line = _line(i)
        if (row["sheet_id"] or "").strip() not in sheet_ids:
            raise RatingSheetError(
                name,
                line,
                "sheet_id",
                f"{row['sheet_id']!r} does not match the key's sheet {sorted(sheet_ids)}",
            )
        raw_id = (row["row_id"] or "").strip()
        if not raw_id.isdigit():
            raise RatingSheetError(name, line, "row_id", f"{raw_id!r} is not a row id")
        row_id = int(raw_id)
        if row_id not in by_id:
            raise RatingSheetError(
                name, line, "row_id", f"unknown row id {row_id} (not in the key)"
            )
        if row_id in seen:
            raise RatingSheetError(
                name, line, "row_id", f"row id {row_id} appears twice (also on line {seen[row_id]})"
            )
        seen[row_id] = line
        if (row["explanation"] or "") != by_id[row_id]["explanation"]:
            raise RatingSheetError(
                name, line, "explanation", f"differs from the key's explanation of row {row_id}"
            )
        ratings = {}
        for item in ITEMS:
            value = (row[item] or "").strip()
            if not value:
                raise RatingSheetError(name, line, item, "rating missing (expected 1-5)")
            if not value.isdigit() or not 1 <= int(value) <= 5:
                raise RatingSheetError(
                    name, line, item, f"rating {value!r} out of range (expected 1-5)"
                )
            ratings[item] = int(value)
        out.append({"row_id": row_id, **ratings})
    absent = sorted(set(by_id) - set(seen))
    if absent:
        raise RatingSheetError(
            name, "end of file", "row_id", f"rows of the key missing from the sheet: {absent[:10]}"
        )
    return pl.DataFrame(out, schema={"row_id": pl.Int64, **dict.fromkeys(ITEMS, pl.Int64)})


def ingest_rating_sheets(
    sheets: Mapping[str, pl.DataFrame], key: pl.DataFrame, raters: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Filled sheets (file name -> the CSV read as text columns, one file per rater) + the key
    -> ratings in the study's ``study.csv`` layout (``STUDY_SCHEMA``).

    ``CASE`` (the participant) and the demographics come from ``raters`` (``RATERS_SCHEMA``:
    one row per file); without it, ``CASE`` numbers the files in name order from 1 and the
    demographics are empty. ``rationale`` is the sheet slot (``RE<row_id>``), ``rationale_id``
    the sheet row id (the same explanation for every rater), ``model`` the condition label,
    ``rationale_length`` the explanation's characters.
    """
    if not sheets:
        return pl.DataFrame(schema=STUDY_SCHEMA)
    known = raters.to_dicts() if raters is not None else []
    by_file = {r["file"]: r for r in known}
    if raters is not None:
        unknown = sorted(set(sheets) - set(by_file))
        if unknown:
            raise RatingSheetError(
                unknown[0], "header", "file", "no row for this sheet in the raters table"
            )
    parts = []
    for case, name in enumerate(sorted(sheets), start=1):
        ratings = _check_sheet(name, sheets[name], key)
        rater = by_file.get(name, {"CASE": case})
        parts.append(
            ratings.join(key.select("row_id", "model", "explanation"), on="row_id").with_columns(
                CASE=pl.lit(rater["CASE"], pl.Int64),
                rationale=pl.concat_str(
                    pl.lit("RE"), pl.col("row_id").cast(pl.String).str.zfill(2)
                ),
                rationale_id="row_id",
                rationale_length=pl.col("explanation").str.len_chars().cast(pl.Int64),
                **{d: pl.lit(rater.get(d), pl.String) for d in DEMOGRAPHICS},
            )
        )
    return pl.concat(parts).select(STUDY_COLUMNS).cast(dict(STUDY_SCHEMA))


def read_sheet(path: str) -> pl.DataFrame:
    """A filled sheet as text columns (what :func:`ingest_rating_sheets` validates)."""
    return pl.read_csv(path, infer_schema=False)
