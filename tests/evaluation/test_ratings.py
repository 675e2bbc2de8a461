"""The human-rating round trip: blinded export, ingest into study.csv's layout, bad inputs."""

from __future__ import annotations

import polars as pl
import pytest

from llm_distillation.evaluation.ratings import (
    ITEMS,
    STUDY_COLUMNS,
    RatingSheetError,
    export_rating_sheet,
    ingest_rating_sheets,
    read_sheet,
)


def _explanations() -> pl.DataFrame:
    rows = []
    for cell, condition in (("cqa_t5_mt", "mt_unrevised"), ("cqa_t5_cf", "cf_unrevised")):
        for seed in (0, 1):
            for k in range(3):
                rows.append(
                    {
                        "cell": cell,
                        "benchmark": "cqa",
                        "student": "t5",
                        "condition": condition,
                        "seed": seed,
                        "example_id": f"q{k}",
                        "task": f"Question: q{k}?\nChoices: (a) x (b) y",
                        "prediction": "x",
                        "explanation": f"Because of reason number {len(rows)}.",
                    }
                )
    rows.append({**rows[0], "example_id": "q9", "explanation": "  "})  # nothing to rate
    return pl.DataFrame(rows)


@pytest.fixture
def exported():
    return export_rating_sheet(_explanations(), seed=3, labels={"mt_unrevised": "MT:Unrevised"})


def _filled(sheet: pl.DataFrame, value: int = 4) -> pl.DataFrame:
    """The sheet as a rater returns it: every cell text, the five items filled."""
    return sheet.with_columns(**{item: pl.lit(str(value)) for item in ITEMS}).cast(pl.String)


def _roundtrip(tmp_path, frame: pl.DataFrame, name="rater1.csv") -> pl.DataFrame:
    path = tmp_path / name
    frame.write_csv(path)
    return read_sheet(str(path))


def test_sheet_is_blinded_shuffled_and_seeded(exported):
    sheet, key = exported
    assert sheet.height == key.height == 12  # the empty explanation is not on the sheet
    assert sheet.columns == ["row_id", "sheet_id", "question", "answer", "explanation", *ITEMS]
    text = sheet.write_csv()
    for hidden in ("cqa_t5", "mt_unrevised", "cf_unrevised", "MT:Unrevised", "seed"):
        assert hidden not in text
    assert sheet[list(ITEMS)].null_count().sum_horizontal().item() == 12 * 5
    assert key["explanation"].to_list() == sheet["explanation"].to_list()
    order = key.select("cell", "seed", "example_id").rows()
    assert order != sorted(order)  # shuffled
    again, _ = export_rating_sheet(_explanations(), seed=3)
    assert again["explanation"].to_list() == sheet["explanation"].to_list()
    other, _ = export_rating_sheet(_explanations(), seed=4)
    assert other["explanation"].to_list() != sheet["explanation"].to_list()
    assert set(key["model"]) == {"MT:Unrevised", "cf_unrevised"}
    per_run, _ = export_rating_sheet(_explanations(), seed=3, per_run=1)
    assert per_run.height == 4


def test_filled_sheets_come_back_in_the_study_layout(tmp_path, exported, shared_data):
    sheet, key = exported
    one = _roundtrip(tmp_path, _filled(sheet, 4), "a.csv")
    two = _roundtrip(tmp_path, _filled(sheet, 2), "b.csv")
    raters = pl.DataFrame(
        {
            "file": ["a.csv", "b.csv"],
            "CASE": [214, 215],
            "gender": ["female", "male"],
            "age": ["25 to 29 years old", "30 to 34 years old"],
            "country": ["United Kingdom", "Germany"],
            "education": ["A-levels", "Bachelor"],
            "employement": ["Employee", "Student"],
        }
    )
    study = ingest_rating_sheets({"a.csv": one, "b.csv": two}, key, raters)
    assert tuple(study.columns) == STUDY_COLUMNS
    assert study.height == 24
    assert set(study["CASE"]) == {214, 215}
    assert study.filter(pl.col("CASE") == 215)["Plausibility"].unique().to_list() == [2]
    first = study.row(0, named=True)
    assert first["rationale"] == f"RE{first['rationale_id']:02d}"
    explanation = key.filter(pl.col("row_id") == first["rationale_id"])["explanation"].item()
    assert first["rationale_length"] == len(explanation)
    assert set(study["model"]) == {"MT:Unrevised", "cf_unrevised"}
    # the study's own file has the same header
    import pathlib

    header = (
        (pathlib.Path(__file__).parents[2].parent / "shared/data/paper_results/study.csv")
        .read_text()
        .split("\n", 1)[0]
    )
    assert header.split(",") == list(STUDY_COLUMNS)
    # without a raters table: CASE numbers the files
    plain = ingest_rating_sheets({"b.csv": two, "a.csv": one}, key)
    assert plain.filter(pl.col("CASE") == 1)["Plausibility"].unique().to_list() == [4]
    assert plain["gender"].null_count() == plain.height


def _bad(sheet: pl.DataFrame, row: int, **values: str) -> pl.DataFrame:
    filled = _filled(sheet)
    return filled.with_columns(
        **{
            col: pl.when(pl.int_range(pl.len()) == row).then(pl.lit(v)).otherwise(pl.col(col))
            for col, v in values.items()
        }
    )


@pytest.mark.parametrize(
    "case",
    [
        ({"Plausibility": "6"}, 4, "Plausibility", "out of range"),
        ({"Completeness": "0"}, 3, "Completeness", "out of range"),
        ({"Satisfaction": "four"}, 2, "Satisfaction", "out of range"),
        ({"Contrastiveness": ""}, 5, "Contrastiveness", "rating missing"),
        ({"row_id": "99"}, 6, "row_id", "unknown row id 99"),
        ({"row_id": "x1"}, 6, "row_id", "is not a row id"),
        ({"sheet_id": "0123456789ab"}, 2, "sheet_id", "does not match the key"),
        ({"explanation": "Something else."}, 7, "explanation", "differs from the key"),
    ],
)
def test_bad_sheets_name_file_line_and_field(tmp_path, exported, case):
    edit, line, field, message = case
    sheet, key = exported
    frame = _roundtrip(tmp_path, _bad(sheet, line - 2, **edit), "rater7.csv")
    with pytest.raises(RatingSheetError, match=message) as err:
        ingest_rating_sheets({"rater7.csv": frame}, key)
    assert (err.value.file, err.value.row, err.value.field) == ("rater7.csv", line, field)
    assert str(err.value).startswith(f"rater7.csv: line {line}, field '{field}'")


def test_duplicated_missing_rows_and_columns_are_rejected(tmp_path, exported):
    sheet, key = exported
    filled = _filled(sheet)
    doubled = _roundtrip(tmp_path, pl.concat([filled, filled.head(1)]))
    with pytest.raises(RatingSheetError, match="appears twice \\(also on line 2\\)") as err:
        ingest_rating_sheets({"rater1.csv": doubled}, key)
    assert err.value.row == 14
    short = _roundtrip(tmp_path, filled.head(5))
    with pytest.raises(RatingSheetError, match="rows of the key missing from the sheet"):
        ingest_rating_sheets({"rater1.csv": short}, key)
    no_item = _roundtrip(tmp_path, filled.drop("Completeness"))
    with pytest.raises(RatingSheetError, match="'Completeness': column missing"):
        ingest_rating_sheets({"rater1.csv": no_item}, key)
    # a sheet checked against another export's key
    _, other_key = export_rating_sheet(_explanations(), seed=5)
    with pytest.raises(RatingSheetError, match="sheet_id"):
        ingest_rating_sheets({"rater1.csv": _roundtrip(tmp_path, filled)}, other_key)
    raters = pl.DataFrame({"file": ["someone.csv"], "CASE": [1]})
    with pytest.raises(RatingSheetError, match="no row for this sheet in the raters table"):
        ingest_rating_sheets({"rater1.csv": _roundtrip(tmp_path, filled)}, key, raters)
