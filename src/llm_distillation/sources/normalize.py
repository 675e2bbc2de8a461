"""From raw records to the normalized, validated example table (plus the rejected rows)."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from llm_distillation.errors import RowError
from llm_distillation.schema import (
    EXAMPLE_SCHEMA,
    FIXED_CHOICES,
    REJECTED_SCHEMA,
    TEXT_FIELDS,
    empty_examples,
    empty_rejections,
)
from llm_distillation.sources.benchmarks import get_loader, metadata_json
from llm_distillation.sources.formats import RawBenchmark

logger = logging.getLogger(__name__)


def check_example(benchmark: str, example: dict[str, Any]) -> None:
    """Schema-level checks every normalized example must pass, whatever its source.

    Raises ``RowError`` naming the field: required text present and non-empty, answer among
    the choices and at ``answer_index``, and a valid label for fixed-label benchmarks.
    """
    if not str(example.get("example_id") or "").strip():
        raise RowError("example_id", "empty")
    for field in TEXT_FIELDS[benchmark]:
        value = example.get(field)
        if not isinstance(value, str) or not value.strip():
            raise RowError(field, "missing or empty")
    choices = example.get("choices") or []
    if not choices:
        raise RowError("choices", "empty")
    if benchmark in FIXED_CHOICES and tuple(choices) != FIXED_CHOICES[benchmark]:
        raise RowError("choices", f"expected {list(FIXED_CHOICES[benchmark])}, got {choices!r}")
    answer, index = example.get("answer"), example.get("answer_index")
    if answer not in choices:
        raise RowError("answer", f"{answer!r} is not one of the choices {choices!r}")
    if not isinstance(index, int) or not 0 <= index < len(choices) or choices[index] != answer:
        raise RowError("answer_index", f"{index!r} does not point at the answer {answer!r}")


def example_row(
    benchmark: str, split: str, source_file: str, source_row: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """One row of ``EXAMPLE_SCHEMA`` from a loader's normalized ``fields``."""
    return {
        "example_id": fields["example_id"],
        "benchmark": benchmark,
        "split": split,
        "source_file": source_file,
        "source_row": source_row,
        "question": fields.get("question"),
        "premise": fields.get("premise"),
        "hypothesis": fields.get("hypothesis"),
        "choices": fields["choices"],
        "answer": fields["answer"],
        "answer_index": fields["answer_index"],
        "explanations": fields.get("explanations") or [],
        "metadata": metadata_json(fields.get("metadata") or {}),
    }


def normalize_raw(raw: RawBenchmark) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Normalize and validate every record of every split of ``raw``.

    Returns ``(examples, rejected)``. No row is dropped silently: each invalid record becomes
    one row of ``rejected`` with its file, row number, field and reason. The second and later
    occurrences of an ``example_id`` are rejected as duplicates.
    """
    loader = get_loader(raw.benchmark)
    examples: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    first_seen: dict[str, tuple[str, int]] = {}
    for split, part in raw.splits.items():
        for row, record in part.rows:
            where = {
                "benchmark": raw.benchmark,
                "split": split,
                "source_file": part.source,
                "source_row": row,
            }
            try:
                fields = loader.to_example(record, raw.dialect)
                check_example(raw.benchmark, fields)
            except RowError as err:
                guess = record.get("id") or record.get("qid") or record.get("pairID")
                rejected.append(
                    {
                        **where,
                        "example_id": guess and str(guess),
                        "field": err.field,
                        "reason": err.reason,
                    }
                )
                continue
            example_id = fields["example_id"]
            if example_id in first_seen:
                src, src_row = first_seen[example_id]
                rejected.append(
                    {
                        **where,
                        "example_id": example_id,
                        "field": "example_id",
                        "reason": f"duplicate id, first seen in {src} row {src_row}",
                    }
                )
                continue
            first_seen[example_id] = (part.source, row)
            examples.append(example_row(raw.benchmark, split, part.source, row, fields))
    logger.info(
        "%s: %d examples normalized, %d rejected", raw.benchmark, len(examples), len(rejected)
    )
    return (
        pl.DataFrame(examples, schema=EXAMPLE_SCHEMA) if examples else empty_examples(),
        pl.DataFrame(rejected, schema=REJECTED_SCHEMA) if rejected else empty_rejections(),
    )
