"""A Kedro dataset for a Hugging Face model folder made once from a GGUF file or another folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from llm_distillation.teacher import model_artifacts

logger = logging.getLogger(__name__)

ModelSource = dict[str, Any] | str | os.PathLike[str] | None


def _source_path(source: ModelSource) -> Path | None:
    """The GGUF file or HF folder that ``source`` names (``None``: nothing to convert)."""
    if source is None:
        return None
    if isinstance(source, dict):
        if not source:
            return None
        for key in ("gguf_path", "hf_path", "path"):
            if source.get(key):
                return Path(source[key])
        raise DatasetError(
            f"a model source dict needs 'gguf_path' or 'hf_path', got keys {sorted(source)}"
        )
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    raise DatasetError(f"cannot save a model folder from {type(source).__name__}")


class HFModelFolderDataset(AbstractDataset[ModelSource, str | None]):
    """A converted Hugging Face model folder (safetensors + tokenizer + ``conversion.json``).

    - ``save(source)``: ``source`` is ``{"gguf_path": …}`` (dequantised to float32), an HF model
      folder (``{"hf_path": …}`` or a plain path), or ``{}``/``None`` (nothing to make: no-op).
      When the folder already holds a complete conversion of the same source (its
      ``conversion.json`` records the source's SHA-256), nothing is redone; otherwise the folder
      is written into a temporary sibling and renamed into place.
    - ``load()`` returns the folder path as a string (the teacher backend loads it lazily), or
      ``None`` when no complete conversion is there (a run where no teacher uses it).

    Example (``conf/base/catalog_teacher_generation.yml``)::

        teacher_model:
          type: llm_distillation.kedro_datasets.HFModelFolderDataset
          path: ${globals:data_dir}/06_models/teacher/smollm2-135m-instruct
    """

    def __init__(
        self,
        *,
        path: str,
        dtype: str = "float32",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(path)
        self._dtype = dtype
        self.metadata = metadata

    def _load(self) -> str | None:
        if not model_artifacts.is_complete_conversion(self._path):
            logger.warning("No converted model folder at %s", self._path)
            return None
        return str(self._path)

    def _save(self, data: ModelSource) -> None:
        source = _source_path(data)
        if source is None:
            logger.info("No model source given: %s left as it is", self._path)
            return
        if not source.exists():
            raise DatasetError(f"model source {source} does not exist")
        fingerprint = model_artifacts.source_fingerprint(source)
        if model_artifacts.is_complete_conversion(self._path, fingerprint):
            logger.info("%s already holds a conversion of %s", self._path, source.name)
            return
        model_artifacts.convert_to_hf(source, self._path, dtype=self._dtype)

    def _exists(self) -> bool:
        return model_artifacts.is_complete_conversion(self._path)

    def _describe(self) -> dict[str, Any]:
        marker = model_artifacts.read_conversion_marker(self._path)
        return {
            "path": str(self._path),
            "dtype": self._dtype,
            "source": (marker or {}).get("source"),
        }
