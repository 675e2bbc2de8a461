"""The report: one HTML page and the same Markdown, with what was run."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

from llm_distillation.reporting.report import (
    ReportSection,
    build_report,
    input_record,
    run_record,
    table_fingerprint,
)


def _report() -> tuple[str, str]:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    table = pl.DataFrame(
        {"condition": ["A|B", "C"], "mean": [61.94445126833333, 1.0], "empty": [None, None]}
    )
    section = ReportSection(
        "Accuracy",
        statements=["MT beats CF by 12.7 points at 220M (Tukey HSD, p < 0.001)."],
        figures={"Main figure": fig},
        tables={"Means": table},
        notes=["a note"],
    )
    run = run_record(
        {"alpha": 0.05},
        [input_record("experiment", table, {"experiment": {"version": "2026-01-01", "path": "x"}})],
        created=datetime(2026, 1, 2, tzinfo=UTC),
    )
    return build_report("Title <x>", [section], run)


def test_html_is_self_contained() -> None:
    html, _ = _report()
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>Title &lt;x&gt;</title>" in html
    assert "MT beats CF by 12.7 points at 220M" in html
    data = html.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "61.94" in html and "61.944451" not in html  # shown with 4 significant digits
    assert "<th>empty</th>" not in html  # all-null columns are not shown
    assert "2026-01-01" in html and "statsmodels" in html


def test_markdown_matches_html() -> None:
    _, md = _report()
    assert md.startswith("# Title <x>\n")
    assert "- MT beats CF by 12.7 points at 220M (Tukey HSD, p < 0.001)." in md
    assert "| condition | mean |" in md
    assert "| A\\|B | 61.94 |" in md
    assert "![Main figure](data:image/png;base64," in md
    assert '"alpha": 0.05' in md


def test_fingerprint_depends_on_content_only() -> None:
    a = pl.DataFrame({"x": [1, 2]})
    assert table_fingerprint(a) == table_fingerprint(pl.DataFrame({"x": [1, 2]}))
    assert table_fingerprint(a) != table_fingerprint(pl.DataFrame({"x": [2, 1]}))
    record = input_record("a", a)
    assert record["version"] == "not recorded" and record["rows"] == 2


def test_dataset_versions_names_the_loaded_version(tmp_path) -> None:
    from kedro.io import DataCatalog, MemoryDataset, Version

    from llm_distillation.kedro_datasets import PolarsTableDataset
    from llm_distillation.reporting.report import dataset_versions

    path = tmp_path / "t.parquet"
    PolarsTableDataset(
        filepath=str(path), file_format="parquet", version=Version(None, "2026-01-01T00.00.00.000Z")
    ).save(pl.DataFrame({"x": [1]}))
    catalog = DataCatalog(
        {
            "t": PolarsTableDataset(
                filepath=str(path), file_format="parquet", version=Version(None, None)
            ),
            "plain": PolarsTableDataset(filepath=str(tmp_path / "p.csv"), file_format="csv"),
            "mem": MemoryDataset(1),
        }
    )
    versions = dataset_versions(catalog, ["t", "plain", "mem", "missing"])
    assert versions["t"]["version"] == "2026-01-01T00.00.00.000Z"
    assert versions["t"]["path"].endswith("2026-01-01T00.00.00.000Z/t.parquet")
    assert versions["plain"] == {"version": None, "path": str(tmp_path / "p.csv")}
    assert set(versions) == {"t", "plain"}
    record = input_record("t", pl.DataFrame({"x": [1]}), versions)
    assert record["version"] == "2026-01-01T00.00.00.000Z"
    assert input_record("plain", pl.DataFrame(), versions)["version"] == "unversioned"
    assert input_record("other", pl.DataFrame(), versions)["version"] == "not recorded"


def test_cells_never_show_nan() -> None:
    table = pl.DataFrame({"x": [float("nan"), float("inf"), -float("inf"), 0.5, None]})
    section = ReportSection("T", tables={"t": table})
    run = run_record({}, [], created=datetime(2026, 1, 2, tzinfo=UTC))
    for text in build_report("T", [section], run):
        assert "nan" not in text.lower().replace("undefined", "")
        assert "undefined" in text and "∞" in text and "−∞" in text


def test_boxed_section() -> None:
    section = ReportSection("What this run can tell you", statements=["One seed."], boxed=True)
    run = run_record({}, [], created=datetime(2026, 1, 2, tzinfo=UTC))
    html, md = build_report("T", [section], run)
    assert '<section class="box"><h2>What this run can tell you</h2>' in html
    assert "> **What this run can tell you**\n>\n> - One seed." in md
