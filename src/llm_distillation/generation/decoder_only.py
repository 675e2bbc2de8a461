"""Batches of a decoder-only (causal) LM: left padding after a shared prefix whose keys/values
are prefilled once, position ids from the mask's cumulative sum, a preallocated cache.

A batch is laid out as::

    [ prefix (P tokens) | left padding | suffix ]      attention mask [ 1…1 | 0…0 | 1…1 ]

i.e. suffixes are right-aligned after the shared prefix, and each row's position ids come from
the cumulative sum of its mask, so every row sees exactly the positions it would see unpadded.
Rows without a shared prefix form batches with ``P = 0``: ordinary left padding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llm_distillation.generation.cache import PrefixCache, PrefixStates, batch_cache
from llm_distillation.generation.plan import PreparedRequest

if TYPE_CHECKING:
    import torch


class DecoderOnlyModel:
    """Prefill and decode steps of a causal LM (``AutoModelForCausalLM``).

    Args:
        model: the model (in eval mode, on ``device``).
        pad_id: token id written into padding positions (masked out).
        prefix_cache: share the keys/values of each prefix across rows and calls.
        compile: ``torch.compile`` the forward used by the one-token decode steps.
    """

    is_encoder_decoder = False

    def __init__(self, model: Any, *, pad_id: int, prefix_cache: bool, compile: bool) -> None:
        self.model = model
        self.device = model.device
        self.pad_id = pad_id
        self.prefix_cache = PrefixCache(self._prefix_states) if prefix_cache else None
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self._step_forward: Callable[..., Any] = model.forward
        if compile:
            import torch

            self._step_forward = torch.compile(model.forward, dynamic=True)

    def forward(self, *, step: bool = False, cache: Any, **inputs: Any) -> torch.Tensor:
        """Last-position logits ``(rows, vocab)``; ``step``: a one-token decode step."""
        call = self._step_forward if step else self.model
        out = call(**inputs, **{self._cache_kwarg: cache}, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :]

    def _prefix_states(self, key: tuple[int, ...]) -> PrefixStates:
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        ids = torch.tensor([key], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            self.forward(input_ids=ids, cache=cache)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def start(
        self, batch: Sequence[PreparedRequest], max_new_tokens: int
    ) -> tuple[torch.Tensor, _DecoderSteps]:
        """Prefill ``batch`` (rows sharing one prefix, or none): the first logits and the
        stepper of its decode steps. Tensors: ``suffix`` ``(B, S)``, ``mask`` ``(B, P + S)``,
        ``positions`` ``(B, S)``."""
        import torch

        prefix_len = batch[0].prefix_len
        prefix = None
        if prefix_len:
            assert self.prefix_cache is not None
            prefix = self.prefix_cache.get(tuple(batch[0].ids[:prefix_len]))
        suffixes = [p.ids[prefix_len:] for p in batch]
        width = max(len(s) for s in suffixes)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for i, suffix in enumerate(suffixes):
            input_ids[i, width - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
            mask[i, prefix_len + width - len(suffix) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
        input_ids, mask, positions = (t.to(self.device) for t in (input_ids, mask, positions))
        cache = batch_cache(
            self.model.config, len(batch), prefix_len + width + max_new_tokens, prefix
        )
        logits = self.forward(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache
        )
        return logits, _DecoderSteps(self, cache, mask, positions[:, -1] + 1)


class _DecoderSteps:
    """The decode steps of one batch: its cache, attention mask and next positions."""

    def __init__(self, family: DecoderOnlyModel, cache: Any, mask: Any, next_pos: Any) -> None:
        self.family, self.cache, self.mask, self.next_pos = family, cache, mask, next_pos

    def step(self, tokens: Sequence[int], keep: Sequence[int] | None) -> torch.Tensor:
        import torch

        device = self.family.device
        if keep is not None:
            index = torch.tensor(keep, dtype=torch.long, device=device)
            self.cache.batch_select_indices(index)
            self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=-1)
        logits = self.family.forward(
            step=True,
            input_ids=torch.tensor(tokens, dtype=torch.long, device=device)[:, None],
            attention_mask=self.mask,
            position_ids=self.next_pos[:, None],
            cache=self.cache,
        )
        self.next_pos = self.next_pos + 1
        return logits
