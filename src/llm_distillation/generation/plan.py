"""From requests to batches: tokenise each request, find its cacheable shared prefix, apply the
prompt overflow policy, then group and sort rows into batches.

Shared prefix
-------------
A chat request's ``prefix_messages`` (the few-shot demos) is rendered alone (no generation
prompt) and compared token for token with the full prompt. When the full prompt starts with it
(or differs only in the last :data:`BOUNDARY_SLACK` tokens, where a BPE merge can straddle the
boundary; then the common part is used), that many leading tokens are the row's prefix, whose
keys/values a decoder-only engine computes once and shares. Otherwise the row has no prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import Any, Final

from llm_distillation.generation.tokenize import encode_prompt
from llm_distillation.generation.types import GenerationRequest, PromptOverflow

logger = logging.getLogger(__name__)

BOUNDARY_SLACK: Final = 4
"""Prefix tokens at the prefix/suffix boundary that may tokenise differently in the full prompt."""
PART_MEMO_SIZE: Final = 32
"""Distinct prefixes whose token ids are remembered (every request of a task shares one)."""


@dataclass
class PreparedRequest:
    """One request, tokenised: ``ids`` is the whole (possibly truncated) prompt."""

    index: int  # position in the ``generate`` call
    request: GenerationRequest
    ids: list[int]
    prefix_len: int = 0  # leading tokens of ``ids`` shared with other rows (0: none)
    truncated: bool = False
    error: str | None = None

    @property
    def prefix_key(self) -> tuple[int, ...] | None:
        return tuple(self.ids[: self.prefix_len]) if self.prefix_len else None


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class RequestPlanner:
    """Tokenises requests and cuts them into batches for one model (see the module docstring).

    Args:
        tokenizer: the model's tokenizer.
        max_context: the context window (decoder-only: prompt and new tokens; encoder-decoder:
            the encoder input).
        prompt_overflow: the overflow policy (``types.PROMPT_OVERFLOW_MODES``).
        share_prefixes: look for the shared prefix of chat requests (decoder-only engines).
        reserve_new_tokens: whether ``max_new_tokens`` comes off the prompt budget (decoder-only).
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_context: int,
        prompt_overflow: PromptOverflow,
        share_prefixes: bool,
        reserve_new_tokens: bool,
    ) -> None:
        self.tokenizer = tokenizer
        self.max_context = max_context
        self.prompt_overflow = prompt_overflow
        self.share_prefixes = share_prefixes
        self.reserve_new_tokens = reserve_new_tokens
        self._part_memo: dict[tuple[tuple[str, str], ...], list[int] | None] = {}

    # ------------------------------------------------------------------ one request
    def budget(self, max_new_tokens: int) -> int:
        """Prompt tokens a row may have."""
        return self.max_context - (max_new_tokens if self.reserve_new_tokens else 0)

    def prepare(
        self, index: int, request: GenerationRequest, max_new_tokens: int
    ) -> PreparedRequest:
        """Tokenise ``request`` and apply the overflow policy."""
        chat = request.chat() if request.is_chat else None
        ids = encode_prompt(self.tokenizer, chat if chat is not None else str(request.prompt))
        budget = self.budget(max_new_tokens)
        prefix_len = 0
        if chat is not None and request.prefix_messages and self.share_prefixes:
            prefix_len = self._matched_len(chat[: len(request.prefix_messages)], ids)
            if prefix_len == 0:
                logger.debug("request %s: prompt does not start with its prefix", request.key)
            prefix_len = min(prefix_len, len(ids) - 1)  # at least one token left to prefill
        if len(ids) <= budget:
            return PreparedRequest(index, request, ids, prefix_len)
        if self.prompt_overflow == "reject" or budget < 1:
            limit = f"{self.max_context}"
            if self.reserve_new_tokens:
                limit += f" minus max_new_tokens {max_new_tokens}"
            return PreparedRequest(
                index,
                request,
                ids,
                error=f"prompt of {len(ids)} tokens exceeds context {budget} ({limit})",
            )
        if self.prompt_overflow == "keep_start":
            cut = self._keep_start(request, ids, budget)
        else:
            cut = self._truncate_demos(chat, ids, budget)
        logger.debug(
            "request %s: prompt of %d tokens cut to %d (%s)",
            request.key,
            len(ids),
            len(cut),
            self.prompt_overflow,
        )
        return PreparedRequest(index, request, cut, 0, truncated=True)

    def _truncate_demos(
        self, chat: list[dict[str, str]] | None, ids: list[int], budget: int
    ) -> list[int]:
        """Drop tokens from the left, just after a leading system message (kept when it fits)."""
        head = 0
        if chat and chat[0].get("role") == "system" and len(chat) > 1:
            head = self._matched_len(chat[:1], ids)
        if head >= budget:
            head = 0
        return ids[:head] + ids[len(ids) - (budget - head) :]

    def _keep_start(self, request: GenerationRequest, ids: list[int], budget: int) -> list[int]:
        """The first ``budget`` tokens; the special tokens the tokenizer appends to a plain-text
        prompt (T5's ``</s>``) stay at the end."""
        tail = 0
        if not request.is_chat:
            tail = self.tokenizer.num_special_tokens_to_add(pair=False) - self._leading_specials(
                ids
            )
            tail = max(0, min(tail, budget - 1))
        return ids[: budget - tail] + (ids[len(ids) - tail :] if tail else [])

    def _leading_specials(self, ids: list[int]) -> int:
        special = set(getattr(self.tokenizer, "all_special_ids", ()))
        count = 0
        while count < len(ids) and ids[count] in special:
            count += 1
        return min(count, self.tokenizer.num_special_tokens_to_add(pair=False))

    def _part_ids(self, part: list[dict[str, str]]) -> list[int] | None:
        """Tokens of ``part`` rendered alone (memoised)."""
        key = tuple((m["role"], m["content"]) for m in part)
        if key not in self._part_memo:
            try:
                self._part_memo[key] = encode_prompt(
                    self.tokenizer, part, add_generation_prompt=False
                )
            except Exception as error:  # templates may refuse a partial chat (e.g. role order)
                logger.debug("chat template cannot render the prefix alone: %s", error)
                self._part_memo[key] = None
            while len(self._part_memo) > PART_MEMO_SIZE:
                self._part_memo.pop(next(iter(self._part_memo)))
        return self._part_memo[key]

    def _matched_len(self, part: list[dict[str, str]], full_ids: list[int]) -> int:
        """Tokens of ``full_ids`` that the rendering of ``part`` alone covers (0: not a prefix)."""
        part_ids = self._part_ids(part)
        if part_ids is None:
            return 0
        common = common_prefix_len(part_ids, full_ids)
        if common == len(part_ids) or len(part_ids) - common <= BOUNDARY_SLACK:
            return common
        return 0

    # ------------------------------------------------------------------ batches
    def plan(
        self,
        prepared: Sequence[PreparedRequest],
        batch_size: int,
        cached: Container[tuple[int, ...]] = (),
    ) -> list[list[PreparedRequest]]:
        """Group rows by shared prefix, sort each group by suffix length and cut it into batches
        of at most ``batch_size``. A prefix used by one row only, and not in ``cached``, goes
        without (prefilling it alone gains nothing)."""
        groups: dict[tuple[int, ...] | None, list[PreparedRequest]] = {}
        for p in prepared:
            groups.setdefault(p.prefix_key, []).append(p)
        lone = [
            k for k, rows in groups.items() if k is not None and len(rows) < 2 and k not in cached
        ]
        for key in lone:
            for p in groups.pop(key):
                p.prefix_len = 0
                groups.setdefault(None, []).append(p)
        batches: list[list[PreparedRequest]] = []
        for rows in groups.values():
            rows.sort(key=lambda p: len(p.ids) - p.prefix_len)
            batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
        return batches
