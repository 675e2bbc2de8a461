"""The per-teacher, versioned Parquet dataset of consolidated tables."""

from __future__ import annotations

import polars as pl
import pytest
from kedro.io import DatasetError, Version

from llm_distillation.kedro_datasets import PerTeacherParquetDataset


def test_one_file_per_teacher_and_lazy_load(tmp_path):
    table = pl.DataFrame({"teacher": ["llama", "qwen", "llama"], "x": [1, 2, 3]})
    ds = PerTeacherParquetDataset(filepath=str(tmp_path / "train"), version=Version(None, None))
    ds.save(table)
    (version,) = [p.name for p in (tmp_path / "train").iterdir()]
    files = sorted(p.name for p in (tmp_path / "train" / version / "train").iterdir())
    assert files == ["llama.parquet", "qwen.parquet"]
    loaded = ds.load()
    assert isinstance(loaded, pl.LazyFrame)
    assert loaded.collect().sort("x").equals(table.sort("x"))
    only = PerTeacherParquetDataset(
        filepath=str(tmp_path / "train"),
        version=Version(None, None),
        load_args={"teachers": ["qwen"]},
    )
    assert only.load().collect()["x"].to_list() == [2]
    assert ds.exists()


def test_empty_table_keeps_its_schema_and_bad_names_fail(tmp_path):
    ds = PerTeacherParquetDataset(filepath=str(tmp_path / "t"), version=Version(None, None))
    ds.save(pl.DataFrame(schema={"teacher": pl.String, "x": pl.Int64}))
    assert ds.load().collect().schema == pl.Schema({"teacher": pl.String, "x": pl.Int64})
    with pytest.raises(DatasetError, match="cannot be a file name"):
        PerTeacherParquetDataset(filepath=str(tmp_path / "u")).save(
            pl.DataFrame({"teacher": ["../x"], "x": [1]})
        )
