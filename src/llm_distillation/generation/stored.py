"""A model kept in a catalog dataset and opened in the generation engine only when used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_distillation.generation.engine import GenerationEngine


@dataclass(frozen=True)
class StoredModel:
    """A model a catalog dataset holds (``StudentModelDataset``'s load: one per seed), loaded
    only when opened (Kedro's lazy-loading pattern): ``with model.open(device=…) as engine``.

    ``folder`` is a ``save_pretrained`` folder (safetensors + tokenizer) the dataset checked;
    ``summary`` its training summary."""

    folder: Path
    summary: Mapping[str, Any] = field(default_factory=dict)

    def open(self, **options: Any) -> GenerationEngine:
        """The model in the generation engine (a context manager that releases it);
        ``options``: those of :meth:`GenerationEngine.from_pretrained`."""
        from llm_distillation.generation.engine import GenerationEngine

        return GenerationEngine.from_pretrained(self.folder, **options)

    def __fspath__(self) -> str:  # os.PathLike: the folder on disk
        return str(self.folder)

    def __str__(self) -> str:
        return str(self.folder)
