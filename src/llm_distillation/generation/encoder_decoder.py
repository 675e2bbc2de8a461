"""Batches of an encoder-decoder LM (T5-style, ``AutoModelForSeq2SeqLM``): the padded prompts
are encoded once, then the decoder runs one token per step from ``decoder_start_token_id``,
with its self-attention and cross-attention keys/values cached.

Prompts are right-padded (the encoder's attention mask hides the padding; T5's relative
positions do not depend on it); every decoder row has the same length, so no decoder mask is
needed. There is no shared-prefix cache: the encoder attends both ways, so a shared start of
the prompt has no reusable states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llm_distillation.generation.plan import PreparedRequest

if TYPE_CHECKING:
    import torch


class EncoderDecoderModel:
    """Prefill and decode steps of a seq2seq LM.

    Args:
        model: the model (in eval mode, on its device).
        pad_id: token id of the encoder's padding positions (masked out).
        decoder_start_id: the decoder's first input token.
    """

    is_encoder_decoder = True
    prefix_cache = None

    def __init__(self, model: Any, *, pad_id: int, decoder_start_id: int) -> None:
        self.model = model
        self.device = model.device
        self.pad_id = pad_id
        self.decoder_start_id = decoder_start_id

    def start(
        self, batch: Sequence[PreparedRequest], max_new_tokens: int
    ) -> tuple[torch.Tensor, _EncoderDecoderSteps]:
        """Encode ``batch`` and run the decoder's first step: its logits and the stepper."""
        import torch
        from transformers import DynamicCache, EncoderDecoderCache

        width = max(len(p.ids) for p in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, p in enumerate(batch):
            input_ids[i, : len(p.ids)] = torch.tensor(p.ids, dtype=torch.long)
            mask[i, : len(p.ids)] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        encoded = self.model.get_encoder()(input_ids=input_ids, attention_mask=mask)
        steps = _EncoderDecoderSteps(
            self.model, EncoderDecoderCache(DynamicCache(), DynamicCache()), encoded, mask
        )
        return steps.step([self.decoder_start_id] * len(batch), None), steps


class _EncoderDecoderSteps:
    """The decoder steps of one batch: the encoder's output and mask, the decoder's cache."""

    def __init__(self, model: Any, cache: Any, encoded: Any, mask: Any) -> None:
        self.model, self.cache, self.encoded, self.mask = model, cache, encoded, mask

    def step(self, tokens: Sequence[int], keep: Sequence[int] | None) -> torch.Tensor:
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        device = self.mask.device
        if keep is not None:
            index = torch.tensor(keep, dtype=torch.long, device=device)
            self.cache.batch_select_indices(index)
            self.mask = self.mask[index]
            self.encoded = BaseModelOutput(last_hidden_state=self.encoded.last_hidden_state[index])
        out = self.model(
            encoder_outputs=self.encoded,
            attention_mask=self.mask,
            decoder_input_ids=torch.tensor(tokens, dtype=torch.long, device=device)[:, None],
            cache=self.cache,
            use_cache=True,
        )
        return out.logits[:, -1, :]
