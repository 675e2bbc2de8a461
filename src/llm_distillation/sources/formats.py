"""Source formats: which reader reads a source and which field layout (dialect) it has."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_distillation.sources import hf, readers
from llm_distillation.sources.benchmarks import get_loader
from llm_distillation.sources.readers import Rows


@dataclass(frozen=True)
class SourceFormat:
    reader: str
    dialect: str
    description: str


FORMATS: Mapping[str, SourceFormat] = {
    "dsbs_jsonl": SourceFormat(
        "jsonl", "hf", "distilling-step-by-step JSON Lines export (HF field names)"
    ),
    "cqa_official_jsonl": SourceFormat(
        "jsonl", "official", "official CommonsenseQA JSONL (answerKey, question.stem, choices)"
    ),
    "esnli_csv": SourceFormat("csv", "authors", "e-SNLI authors' CSV (pairID, gold_label, …)"),
    "strategyqa_json": SourceFormat("json_array", "hf", "StrategyQA JSON array of objects"),
    "hf_hub": SourceFormat("hub", "hf", "a Hugging Face Hub dataset (datasets.load_dataset)"),
    "hf_disk": SourceFormat(
        "disk", "hf", "a datasets.save_to_disk folder, or shard_<i> folders of them"
    ),
}

_FILE_READERS = {
    "jsonl": readers.read_jsonl,
    "json_array": readers.read_json_array,
    "csv": readers.read_csv,
    "disk": hf.read_disk,
}


def get_format(name: str) -> SourceFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown source format {name!r}; allowed: {sorted(FORMATS)}") from None


@dataclass
class RawSplit:
    """The records of one split of one source, with where they came from."""

    source: str
    rows: Rows


@dataclass
class RawBenchmark:
    """Everything read from one benchmark source: what ``normalize_benchmark`` consumes."""

    benchmark: str
    format: str
    dialect: str
    splits: dict[str, RawSplit] = field(default_factory=dict)

    def preview_rows(self, nrows: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for split, raw in self.splits.items():
            for row, record in raw.rows[: max(nrows - len(out), 0)]:
                out.append({"split": split, "row": row, **{k: str(v) for k, v in record.items()}})
        return out


def read_split(
    benchmark: str,
    format_name: str,
    location: str,
    *,
    dialect: str | None = None,
    root: str | Path | None = None,
    hub: Mapping[str, Any] | None = None,
    token: str | None = None,
) -> RawSplit:
    """Read one split: a file/folder path (relative to ``root``) or, for ``hf_hub``, a Hub split."""
    fmt = get_format(format_name)
    loader = get_loader(benchmark)
    dialect = dialect or fmt.dialect
    if dialect not in loader.dialects:
        raise ValueError(
            f"{benchmark} sources have no dialect {dialect!r}; allowed: {sorted(loader.dialects)}"
        )
    if fmt.reader == "hub":
        if not hub or not hub.get("path"):
            raise ValueError(f"format hf_hub needs hub.path (a dataset id) for {benchmark}")
        source = f"hf://{hub['path']}" + (f"/{hub['name']}" if hub.get("name") else "")
        source += f"[{location}]"
        rows = hf.read_hub(
            hub["path"],
            location,
            name=hub.get("name"),
            revision=hub.get("revision"),
            token=token,
            data_files=hub.get("data_files"),
        )
    else:
        path = Path(root) / location if root is not None else Path(location)
        source = str(path)
        rows = _FILE_READERS[fmt.reader](path)
    readers.require_columns(
        source,
        rows,
        loader.dialects[dialect],
        f"{fmt.description} with columns {list(loader.dialects[dialect])}",
    )
    return RawSplit(source=source, rows=rows)


def read_benchmark(
    benchmark: str,
    format_name: str,
    splits: Mapping[str, str],
    *,
    dialect: str | None = None,
    root: str | Path | None = None,
    hub: Mapping[str, Any] | None = None,
    token: str | None = None,
) -> RawBenchmark:
    """Read every split of one benchmark source (``splits``: our split name -> location)."""
    raw = RawBenchmark(
        benchmark=benchmark,
        format=format_name,
        dialect=dialect or get_format(format_name).dialect,
    )
    for split, location in splits.items():
        raw.splits[split] = read_split(
            benchmark, format_name, location, dialect=dialect, root=root, hub=hub, token=token
        )
    return raw
