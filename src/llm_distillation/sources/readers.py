"""Readers for the published file formats of the benchmarks.

Each reader returns ``(row, record)`` pairs, ``row`` being the 0-based position of the record in
the file (the same numbering the teacher-output files use for alignment). A file that cannot be
read as its format raises :class:`~llm_distillation.errors.SourceFormatError` naming the file
and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from llm_distillation.errors import SourceFormatError

Record = dict[str, Any]
Rows = list[tuple[int, Record]]


def _read_text(path: Path, expected: str) -> str:
    if not path.exists():
        raise SourceFormatError(path, "file not found", expected)
    if path.is_dir():
        raise SourceFormatError(path, "is a folder, not a file", expected)
    data = path.read_bytes()
    if not data.strip():
        raise SourceFormatError(path, "file is empty", expected)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SourceFormatError(
            path, f"not valid UTF-8 (byte {err.start}, line {line}: {err.reason})", expected
        ) from err


def read_jsonl(path: str | Path) -> Rows:
    """JSON Lines: one JSON object per line (blank lines are skipped)."""
    path = Path(path)
    expected = "JSON Lines (one JSON object per line, UTF-8)"
    text = _read_text(path, expected)
    rows: Rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise SourceFormatError(
                path, f"line {line_no}: invalid JSON ({err.msg} at column {err.colno})", expected
            ) from err
        if not isinstance(record, dict):
            raise SourceFormatError(
                path, f"line {line_no}: a JSON {type(record).__name__}, not an object", expected
            )
        rows.append((len(rows), record))
    return rows


def read_json_array(path: str | Path) -> Rows:
    """A JSON array of objects (StrategyQA's ``train.json``/``dev.json``)."""
    path = Path(path)
    expected = "a JSON array of objects (UTF-8)"
    text = _read_text(path, expected)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        hint = " (the file looks truncated)" if err.pos >= len(text.rstrip()) - 1 else ""
        raise SourceFormatError(
            path, f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}{hint}", expected
        ) from err
    if not isinstance(data, list):
        raise SourceFormatError(path, f"the top level is a JSON {type(data).__name__}", expected)
    rows: Rows = []
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            raise SourceFormatError(
                path, f"item {i}: a JSON {type(record).__name__}, not an object", expected
            )
        rows.append((i, record))
    return rows


def read_csv(path: str | Path) -> Rows:
    """A CSV file with a header row (the e-SNLI authors' ``esnli_*.csv``)."""
    path = Path(path)
    expected = "CSV with a header row (UTF-8)"
    text = _read_text(path, expected)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise SourceFormatError(path, "no header row", expected)
    rows: Rows = []
    try:
        for i, record in enumerate(reader):
            if None in record:
                raise SourceFormatError(
                    path,
                    f"data row {i} (line {reader.line_num}) has more fields than the header",
                    expected,
                )
            rows.append((i, dict(record)))
    except csv.Error as err:
        raise SourceFormatError(path, f"line {reader.line_num}: {err}", expected) from err
    return rows


def require_columns(path: object, rows: Rows, columns: Sequence[str], expected: str) -> None:
    """Fail when the file's records lack columns that every record of its format has.

    Only the union of the keys of all records is checked, so a single row with a missing
    field becomes a rejected row instead (see the validation in the ingest pipeline).
    """
    present: set[str] = set()
    for _, record in rows:
        present.update(record)
    missing = [c for c in columns if c not in present]
    if missing:
        found = ", ".join(sorted(present)) or "none"
        raise SourceFormatError(
            path,
            f"wrong columns: missing {', '.join(repr(c) for c in missing)} (found: {found})",
            expected,
        )


def iter_records(rows: Iterable[tuple[int, Record]]) -> Iterable[Record]:
    """The records of ``rows`` without their row numbers."""
    return (record for _, record in rows)
