"""A read-only Kedro dataset for one benchmark's raw source, in any supported format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from llm_distillation.errors import MissingSampleDataError
from llm_distillation.sources.formats import RawBenchmark, get_format, read_benchmark

MISSING_ROOT_HELP = (
    "Point the setting `shared_data_dir` at the folder that holds the benchmark samples "
    "(conf/base/globals.yml, or `kedro run --params shared_data_dir=/path/to/data`), "
    "or run the study's full scale from the Hugging Face Hub with `kedro run --env paper`."
)


class BenchmarkSourceDataset(AbstractDataset[None, RawBenchmark]):
    """Reads every configured split of one benchmark as raw records.

    Example (``conf/base/catalog.yml``)::

        cqa.source:
          type: llm_distillation.kedro_datasets.BenchmarkSourceDataset
          benchmark: cqa
          format: dsbs_jsonl
          root: ${runtime_params:shared_data_dir, ${globals:shared_data_dir}}
          splits: {train: cqa/cqa_train.json, test: cqa/cqa_test.json}

    For ``format: hf_hub`` the split values are Hub split names and ``hub`` gives
    ``path`` (dataset id or local dataset folder), ``name``, ``revision``; the token comes
    from ``credentials: {token: …}``.
    """

    def __init__(
        self,
        *,
        benchmark: str,
        format: str,
        splits: dict[str, str],
        root: str | None = None,
        dialect: str | None = None,
        hub: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._format = get_format(format)
        self._format_name = format
        self._benchmark = benchmark
        self._splits = dict(splits)
        self._root = root
        self._dialect = dialect
        self._hub = dict(hub or {})
        self._token = (credentials or {}).get("token")
        self.metadata = metadata

    @property
    def local_root(self) -> Path | None:
        """The folder file paths are relative to (``None`` for Hub sources)."""
        if self._format.reader == "hub" or self._root is None:
            return None
        return Path(self._root)

    def check_root(self) -> None:
        """Raise :class:`MissingSampleDataError` when the local data folder is missing."""
        root = self.local_root
        if root is not None and not root.is_dir():
            raise MissingSampleDataError(
                f"The {self._benchmark} source folder {str(root)!r} "
                f"(resolved: {root.resolve()}) does not exist. {MISSING_ROOT_HELP}"
            )

    def _load(self) -> RawBenchmark:
        self.check_root()
        return read_benchmark(
            self._benchmark,
            self._format_name,
            self._splits,
            dialect=self._dialect,
            root=self.local_root,
            hub=self._hub,
            token=self._token,
        )

    def _save(self, data: RawBenchmark) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: raw sources are never written")

    def _exists(self) -> bool:
        root = self.local_root
        if self._format.reader == "hub":
            return True
        return all(((root or Path()) / loc).exists() for loc in self._splits.values())

    def _describe(self) -> dict[str, Any]:
        return {
            "benchmark": self._benchmark,
            "format": self._format_name,
            "root": self._root,
            "splits": self._splits,
            "hub": self._hub or None,
        }

    def preview(self, nrows: int = 5) -> TablePreview:
        """First rows of the source for kedro-viz (a table preview)."""
        rows = self._load().preview_rows(nrows)
        columns = sorted({k for r in rows for k in r})
        return TablePreview(
            {
                "index": list(range(len(rows))),
                "columns": columns,
                "data": [[r.get(c) for c in columns] for r in rows],
            }
        )
