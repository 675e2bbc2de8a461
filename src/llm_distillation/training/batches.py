"""A micro-batch of view rows -> padded tensors, and the module that turns them into per-token
losses at label positions only.

- :func:`collate`: right-padded tensors plus host-built gather indices (no per-step host
  syncs: the positions, targets and view of every label token are known before the forward).
- :func:`label_loss_module`: an ``nn.Module`` (what DDP wraps) that runs the model body and
  computes the LM head and the loss only at label positions, in chunks of ``chunk`` rows (with
  a 49k vocabulary the head is most of the FLOPs; prompt tokens need no logits); the same on
  the T5 decoder output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from llm_distillation.consolidation.views import VIEWS
from llm_distillation.training.examples import Example
from llm_distillation.training.losses import IGNORE_INDEX, token_losses

VIEW_INDEX: Final = {v: i for i, v in enumerate(VIEWS)}
TENSOR_KEYS: Final = (
    "input_ids",
    "attention_mask",
    "decoder_input_ids",
    "decoder_attention_mask",
    "positions",
    "targets",
    "token_views",
)
"""The batch entries that go to the device."""


def collate(examples: Sequence[Example], *, pad_id: int, decoder_only: bool) -> dict[str, Any]:
    """Right-padded tensors of a micro-batch plus the label gather indices.

    ``input_ids``/``attention_mask`` ``[B, T]``; encoder-decoder also ``decoder_input_ids``/
    ``decoder_attention_mask`` ``[B, D]``. ``positions`` ``[N]``: flat indices into the
    ``[B·T]`` (decoder-only, label at ``t+1`` predicted at ``t``) or ``[B·D]`` hidden states that
    predict a label; ``targets`` ``[N]``; ``token_views`` ``[N]`` (view index of each label
    token); ``token_rows`` ``[N]``; ``answer`` ``[N]`` bool (the token is part of the answer).
    ``n_tokens``: non-pad tokens (int).
    """
    import torch

    b = len(examples)
    t = max(len(e.input_ids) for e in examples)
    ids = np.full((b, t), pad_id, dtype=np.int64)
    mask = np.zeros((b, t), dtype=np.int64)
    width = t if decoder_only else max(len(e.decoder_input_ids or ()) for e in examples)
    labels = np.full((b, width), IGNORE_INDEX, dtype=np.int64)
    dec = np.full((b, width), pad_id, dtype=np.int64)
    dmask = np.zeros((b, width), dtype=np.int64)
    for i, e in enumerate(examples):
        ids[i, : len(e.input_ids)] = e.input_ids
        mask[i, : len(e.input_ids)] = 1
        labels[i, : len(e.labels)] = e.labels
        if not decoder_only:
            dec[i, : len(e.decoder_input_ids or ())] = e.decoder_input_ids
            dmask[i, : len(e.decoder_input_ids or ())] = 1
    shift = 1 if decoder_only else 0
    predicted = labels[:, shift:]
    rows, cols = np.nonzero(predicted != IGNORE_INDEX)  # row-major: row, then position
    starts = np.array([e.answer_start for e in examples], dtype=np.int64)[rows]
    row_views = np.array([VIEW_INDEX[e.view] for e in examples], dtype=np.int64)
    out: dict[str, Any] = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "positions": torch.from_numpy(rows * width + cols),
        "targets": torch.from_numpy(predicted[rows, cols]),
        "token_views": torch.from_numpy(row_views[rows]),
        "token_rows": torch.from_numpy(rows.astype(np.int64)),
        "answer": torch.from_numpy((starts >= 0) & (cols + shift >= starts)),
    }
    if not decoder_only:
        out["decoder_input_ids"] = torch.from_numpy(dec)
        out["decoder_attention_mask"] = torch.from_numpy(dmask)
    out["n_tokens"] = sum(e.n_tokens for e in examples)
    return out


def label_loss_module(model: Any, decoder_only: bool, chunk: int) -> Any:
    """An ``nn.Module`` computing per-token losses at label positions only (what DDP wraps)."""
    import torch

    class LabelOnlyLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def hidden(self, batch: dict[str, Any]) -> Any:
            m = self.model
            if decoder_only:
                base = getattr(m, m.base_model_prefix)
                h = base(
                    input_ids=batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    use_cache=False,
                ).last_hidden_state
            else:
                enc = m.get_encoder()(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state
                h = m.get_decoder()(
                    input_ids=batch["decoder_input_ids"],
                    attention_mask=batch["decoder_attention_mask"],
                    encoder_hidden_states=enc,
                    encoder_attention_mask=batch["attention_mask"],
                    use_cache=False,
                ).last_hidden_state
                if getattr(m.config, "scale_decoder_outputs", m.config.tie_word_embeddings):
                    h = h * (m.config.d_model**-0.5)
            return h.reshape(-1, h.shape[-1]).index_select(0, batch["positions"])

        def forward(self, batch: dict[str, Any]) -> Any:
            h = self.hidden(batch)
            return token_losses(
                h, batch["targets"], self.model.get_output_embeddings(), chunk=chunk
            )

    return LabelOnlyLoss()


def to_device(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    """The batch with its tensors (``TENSOR_KEYS``) on ``device``."""
    return {
        k: (v.to(device, non_blocking=True) if k in TENSOR_KEYS else v) for k, v in batch.items()
    }


__all__ = ["TENSOR_KEYS", "VIEW_INDEX", "collate", "label_loss_module", "to_device"]
