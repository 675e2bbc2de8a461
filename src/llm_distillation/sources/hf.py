"""Hugging Face sources: datasets on the Hub (or a local dataset folder) and folders written by
``Dataset.save_to_disk``, such as the study's consolidated teacher-output shards.

``datasets`` is imported inside the functions so that importing the package stays fast.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from llm_distillation.errors import SourceFormatError
from llm_distillation.sources.readers import Rows

logger = logging.getLogger(__name__)

_SHARD = re.compile(r"^shard_(\d+)$")


def read_hub(
    path: str,
    split: str,
    *,
    name: str | None = None,
    revision: str | None = None,
    token: str | None = None,
    data_files: Any = None,
) -> Rows:
    """Load one split with ``datasets.load_dataset``.

    ``path`` is a Hub dataset id (``cos_e``, ``esnli``, ``ChilleD/StrategyQA``) or a local
    folder holding data files, which is how the tests exercise this code offline.
    """
    import datasets

    logger.info("Loading %s (config %s, split %s) with datasets.load_dataset", path, name, split)
    try:
        ds = datasets.load_dataset(
            path, name, split=split, revision=revision, token=token, data_files=data_files
        )
    except (FileNotFoundError, ValueError) as err:
        raise SourceFormatError(
            path, f"cannot load split {split!r}: {err}", "a Hub dataset id or a dataset folder"
        ) from err
    return list(enumerate(ds.to_list()))


def shard_folders(folder: str | Path) -> list[Path]:
    """The ``shard_<i>`` sub-folders of ``folder`` in numeric order, or ``[folder]`` itself when
    it is a single ``save_to_disk`` folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceFormatError(folder, "folder not found", "a datasets.save_to_disk folder")
    shards = sorted(
        (p for p in folder.iterdir() if p.is_dir() and _SHARD.match(p.name)),
        key=lambda p: int(_SHARD.match(p.name).group(1)),  # type: ignore[union-attr]
    )
    if shards:
        return shards
    if (folder / "state.json").exists():
        return [folder]
    raise SourceFormatError(
        folder,
        "neither shard_<i> sub-folders nor a state.json",
        "a datasets.save_to_disk folder or a folder of shard_0 … shard_N such folders",
    )


def read_disk(folder: str | Path) -> Rows:
    """All records of a ``save_to_disk`` folder (or of its ``shard_<i>`` folders, in order).

    Row numbers run on across shards, so row ``k`` is the ``k``-th record of the whole set.
    """
    import datasets

    rows: Rows = []
    for shard in shard_folders(folder):
        try:
            ds = datasets.load_from_disk(str(shard))
        except (FileNotFoundError, ValueError, OSError) as err:
            raise SourceFormatError(
                shard, f"cannot be loaded ({err})", "a datasets.save_to_disk folder"
            ) from err
        if isinstance(ds, datasets.DatasetDict):
            raise SourceFormatError(
                shard, "holds a DatasetDict", "a single Dataset per save_to_disk folder"
            )
        rows.extend((len(rows), record) for record in ds.to_list())
    return rows
