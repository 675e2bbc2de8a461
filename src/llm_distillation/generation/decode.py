"""The decoding loop shared by both model families: pick a token per row (greedy, or sampling
with one seeded generator per row), end rows at EOS or at their own stop strings, let finished
rows leave the batch, and ask the model family for the next logits.

A family supplies a :class:`Stepper`: it owns the batch's tensors and cache, and its
``step(tokens, keep)`` feeds one token per active row (after keeping only the rows ``keep``,
when some finished) and returns the next logits ``(rows, vocab)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from llm_distillation.generation.plan import PreparedRequest
from llm_distillation.generation.types import DecodingConfig, GenerationResult

if TYPE_CHECKING:
    import torch

KNOWN_EXTRA: Final = frozenset({"top_k"})
"""``DecodingConfig.extra`` keys the engine understands."""


def row_seed(seed: int, key: str) -> int:
    """A 63-bit seed for one request's sampling generator, stable across runs and batches."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


@dataclass
class Row:
    """Decoding state of one batch row."""

    prepared: PreparedRequest
    generated: list[int] = field(default_factory=list)
    text: str = ""  # decoded so far (kept up to date only when the row has stop strings)
    finish_reason: str | None = None
    generator: torch.Generator | None = None

    def push(self, token: int, eos_ids: Collection[int], tokenizer: Any) -> None:
        """Append ``token``; finish at EOS or at the first of the request's stop strings."""
        self.generated.append(token)
        if token in eos_ids:
            self.finish_reason = "stop"
            return
        stops = [s for s in self.prepared.request.stop if s]
        if not stops:
            return  # the text is decoded once, at the end
        previous = len(self.text)
        self.text = tokenizer.decode(self.generated, skip_special_tokens=True)
        start = max(0, previous - max(len(s) for s in stops) + 1)
        hits = [i for i in (self.text.find(s, start) for s in stops) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            self.finish_reason = "stop"

    def result(self, tokenizer: Any) -> GenerationResult:
        p = self.prepared
        text = (
            self.text
            if p.request.stop
            else tokenizer.decode(self.generated, skip_special_tokens=True)
        )
        return GenerationResult(
            key=p.request.key,
            text=text,
            prompt_tokens=len(p.ids),
            generated_tokens=len(self.generated),
            finish_reason=self.finish_reason or "length",
            prompt_truncated=p.truncated,
        )


class Stepper(Protocol):
    def step(self, tokens: Sequence[int], keep: Sequence[int] | None) -> torch.Tensor:
        """Feed ``tokens`` (one per active row), first keeping only the active rows ``keep``
        (positions among the active rows) when given; return the next logits."""
        ...


def pick_tokens(logits: torch.Tensor, rows: Sequence[Row], decoding: DecodingConfig) -> list[int]:
    """One token per row from ``logits`` ``(rows, vocab)``: argmax, or a sample from the
    temperature/top-k/top-p distribution drawn with each row's own generator."""
    import torch

    if not decoding.do_sample:
        return logits.argmax(dim=-1).tolist()
    scores = logits.float() / max(decoding.temperature, 1e-6)
    top_k = int(decoding.extra.get("top_k", 0) or 0)
    if 0 < top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if decoding.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
        probs = sorted_scores.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= decoding.top_p  # always keeps the first
        sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
    probs = scores.softmax(dim=-1)
    return [
        int(torch.multinomial(probs[i], 1, generator=row.generator).item())
        for i, row in enumerate(rows)
    ]


def seed_rows(rows: Sequence[Row], decoding: DecodingConfig, device: Any) -> None:
    """Give each row its generator, seeded from ``(decoding.seed, request.key)``, so a row's
    sample does not depend on the batch it lands in."""
    import torch

    if not decoding.do_sample:
        return
    for row in rows:
        row.generator = torch.Generator(device=device)
        row.generator.manual_seed(row_seed(decoding.seed, row.prepared.request.key))


def decode(
    rows: list[Row],
    logits: torch.Tensor,
    stepper: Stepper,
    decoding: DecodingConfig,
    *,
    eos_ids: Collection[int],
    tokenizer: Any,
) -> None:
    """Run the loop from the prefill's ``logits`` until every row finished or
    ``max_new_tokens`` tokens were picked. ``rows`` are updated in place."""
    active = list(range(len(rows)))  # batch rows still decoding, in the stepper's order
    for step in range(decoding.max_new_tokens):
        tokens = pick_tokens(logits, [rows[i] for i in active], decoding)
        for i, token in zip(active, tokens, strict=True):
            rows[i].push(token, eos_ids, tokenizer)
        keep = [k for k, i in enumerate(active) if rows[i].finish_reason is None]
        if not keep or step == decoding.max_new_tokens - 1:
            return
        if len(keep) < len(active):  # finished rows leave the batch
            logits = stepper.step([tokens[k] for k in keep], keep)
            active = [active[k] for k in keep]
        else:
            logits = stepper.step(tokens, None)
