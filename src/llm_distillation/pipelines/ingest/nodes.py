"""Nodes of the ``ingest`` pipeline (pure functions; the catalog does all I/O)."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from llm_distillation.errors import TooManyRejectionsError
from llm_distillation.pipelines.ingest.params import IngestParams
from llm_distillation.sampling import take_seeded
from llm_distillation.sources.formats import RawBenchmark
from llm_distillation.sources.normalize import normalize_raw

logger = logging.getLogger(__name__)


def normalize_benchmark(raw: RawBenchmark) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw records of every split -> (normalized examples, rejected rows with reasons)."""
    return normalize_raw(raw)


def enforce_rejection_limit(
    examples: pl.DataFrame, rejected: pl.DataFrame, params: dict[str, Any]
) -> pl.DataFrame:
    """Pass ``examples`` on, or fail when the rejected share exceeds ``max_rejected_share``.

    The rejected rows are already saved (an output of the previous node) when this fails.
    """
    limit = IngestParams.model_validate(params).max_rejected_share
    total = len(examples) + len(rejected)
    share = len(rejected) / total if total else 0.0
    if share > limit:
        head = rejected.head(5).iter_rows(named=True)
        listing = "\n".join(
            f"  {r['source_file']} row {r['source_row']} field {r['field']!r}: {r['reason']}"
            for r in head
        )
        benchmark = rejected["benchmark"][0]
        raise TooManyRejectionsError(
            f"{benchmark}: {len(rejected)} of {total} rows rejected ({share:.2%}), more than "
            f"ingest.max_rejected_share={limit:.2%}. First rejections:\n{listing}\n"
            f"All of them are in the catalog dataset '{benchmark}.rejected_examples'."
        )
    if len(rejected):
        logger.warning("%d rows rejected (%.2f%%), within the limit", len(rejected), 100 * share)
    return examples


def split_examples(
    examples: pl.DataFrame, params: dict[str, Any]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Subsample each split (seeded) and carve a dev split from train when there is none.

    Returns ``(train, dev, test)``. Source splits are kept apart: the test split is never
    mixed with train, and dev comes from train only.
    """
    cfg = IngestParams.model_validate(params)
    if examples.is_empty():
        raise ValueError("no examples to split: the source had no valid rows")
    benchmark = examples["benchmark"][0]
    spec = cfg.for_benchmark(benchmark)
    present = set(examples["split"].unique())
    unknown = present - {"train", "dev", "test"}
    if unknown:
        raise ValueError(f"{benchmark}: unknown split names {sorted(unknown)}; use train/dev/test")

    def part(split: str) -> pl.DataFrame:
        s = getattr(spec, split)
        kept, _ = take_seeded(
            examples.filter(pl.col("split") == split), n=s.n, fraction=s.fraction, seed=cfg.seed
        )
        return kept

    train, test = part("train"), part("test")
    if "dev" in present:
        dev = part("dev")
    else:
        dev, train = take_seeded(train, fraction=cfg.dev_fraction, seed=cfg.seed + 1)
        dev = dev.with_columns(split=pl.lit("dev"))
    logger.info(
        "%s: train %d, dev %d, test %d examples", benchmark, len(train), len(dev), len(test)
    )
    return train, dev, test
