"""A teacher run in-process with Hugging Face ``transformers``: batched decoding with a shared
few-shot prefix prefilled once.

How a request becomes tokens
----------------------------
The full chat is ``prefix_messages + messages`` (as in the OpenAI backend); a request whose
``messages`` already begin with its ``prefix_messages`` is taken as the full chat as it is. With a
chat template the chat is rendered with ``add_generation_prompt=True`` and tokenised without
adding special tokens (the template writes them); without one the contents are joined by a blank
line and tokenised with the tokenizer's special tokens.

Prefix KV cache
---------------
The prefix (the few-shot demos) is rendered alone (``add_generation_prompt=False``) and compared
token for token with the full prompt. When the full prompt starts with it (or differs only in the
last :data:`BOUNDARY_SLACK` tokens, where a BPE merge can straddle the boundary; then the common
part is used), its keys/values are computed once per distinct prefix (kept in a small LRU across
calls) and copied into every row of each batch, so only the per-example suffix is prefilled.
Otherwise the request runs without a prefix cache. A batch is laid out as::

    [ prefix (P tokens) | left padding | suffix ]      attention mask [ 1…1 | 0…0 | 1…1 ]

i.e. suffixes are right-aligned after the shared prefix, and each row's position ids come from
the cumulative sum of its mask, so every row sees exactly the positions it would see unpadded.
Requests without a (shared) prefix form batches with ``P = 0``: ordinary left padding.

Decoding
--------
Greedy, or sampling with ``temperature``/``top_p`` (and ``top_k`` from ``decoding.extra``), with
one generator per row seeded from ``(decoding.seed, request.key)``, so a row's sample does not
depend on which batch it lands in. Each row stops at EOS or at the first of its own stop strings
(the text is cut there), and finished rows leave the batch; the batch ends when every row has
finished or after ``max_new_tokens``. ``generated_tokens`` counts the tokens produced until the row
finished, including the EOS token or the token that completed the stop string.

Context overflow
----------------
The prompt budget is ``max_context - max_new_tokens``. A longer prompt is cut with
``prompt_overflow="truncate_demos"``: tokens are dropped from the left of the demos, just after a
leading system message (kept when it fits), and ``prompt_truncated`` is set; with ``"reject"`` the
row gets ``finish_reason="error"`` and an empty text. Neither raises.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from llm_distillation.teacher.backends.base import (
    DecodingConfig,
    GenerationRequest,
    GenerationResult,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

PromptOverflow = Literal["truncate_demos", "reject"]
PROMPT_OVERFLOW_MODES: Final = ("truncate_demos", "reject")
BOUNDARY_SLACK: Final = 4
"""Prefix tokens at the prefix/suffix boundary that may tokenise differently in the full prompt."""
PREFIX_LRU_SIZE: Final = 8
"""Distinct prefixes whose keys/values are kept between ``generate`` calls."""
KNOWN_EXTRA: Final = frozenset({"top_k"})

ProgressCallback = Callable[[int, int, int], None]
"""``progress(done_requests, total_requests, generated_tokens_so_far)``."""


@dataclass
class _Prepared:
    """One request, tokenised: ``ids`` is the whole (possibly truncated) prompt."""

    index: int
    request: GenerationRequest
    ids: list[int]
    prefix_len: int = 0  # tokens of ``ids`` covered by the shared prefix cache (0: none)
    truncated: bool = False
    error: str | None = None

    @property
    def prefix_key(self) -> tuple[int, ...] | None:
        return tuple(self.ids[: self.prefix_len]) if self.prefix_len else None


@dataclass
class _Row:
    """Decoding state of one batch row."""

    prepared: _Prepared
    generated: list[int]
    text: str = ""
    finish_reason: str | None = None
    generator: torch.Generator | None = None


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def row_seed(seed: int, key: str) -> int:
    """A 63-bit seed for one request's sampling generator, stable across runs and batches."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def _resolve_dtype_name(dtype: str, device: str) -> str:
    aliases = {
        "fp32": "float32",
        "float": "float32",
        "bf16": "bfloat16",
        "fp16": "float16",
        "half": "float16",
    }
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    name = aliases.get(dtype, dtype)
    if name not in {"float32", "bfloat16", "float16"}:
        raise ValueError(f"unsupported dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return name


class TransformersBackend:
    """Teacher backend running a causal LM with ``transformers`` (see the module docstring).

    Args:
        model: Hub id or local folder of the model (e.g. the converted default teacher folder).
        gguf_file: GGUF file name inside ``model`` to load (dequantised) instead of safetensors.
        revision: Hub revision (branch, tag or commit) when ``model`` is a Hub id.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
        dtype: ``"auto"`` (float32 on CPU, bfloat16 on CUDA), ``"float32"``, ``"bfloat16"``…
        batch_size: rows decoded together.
        max_context: context window in tokens (default: the config's ``max_position_embeddings``).
        prompt_overflow: ``"truncate_demos"`` or ``"reject"`` for prompts over the context.
        prefix_cache: reuse the keys/values of each shared few-shot prefix.
        compile: ``torch.compile`` the model's forward for the one-token decode steps.
        static_cache: preallocate each batch's cache (``StaticCache``) instead of growing it.
        progress: show a tqdm bar (on a terminal), or a callback ``(done, total, tokens)``.
        name: backend name recorded in manifests.
    """

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        max_context: int | None = None,
        prompt_overflow: PromptOverflow = "truncate_demos",
        prefix_cache: bool = True,
        compile: bool = False,
        static_cache: bool = False,
        progress: bool | ProgressCallback = True,
        name: str = "transformers",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if prompt_overflow not in PROMPT_OVERFLOW_MODES:
            raise ValueError(
                f"prompt_overflow must be one of {PROMPT_OVERFLOW_MODES}, got {prompt_overflow!r}"
            )
        if max_context is not None and max_context < 2:
            raise ValueError(f"max_context must be at least 2, got {max_context}")
        self.model_id = str(model)
        self.gguf_file = gguf_file
        self.revision = revision
        self.device = self._resolve_device(device)
        self.dtype = _resolve_dtype_name(dtype, self.device)
        self.batch_size = batch_size
        self._max_context_arg = max_context
        self.prompt_overflow: PromptOverflow = prompt_overflow
        self.prefix_cache = prefix_cache
        self.compile = compile
        self.static_cache = static_cache
        self.progress = progress
        self.name = name
        self._model: Any = None
        self._tokenizer: Any = None
        self._forward: Callable[..., Any] | None = None
        self._cache_kwarg = "cache"
        self._eos_ids: frozenset[int] = frozenset()
        self._pad_id = 0
        self._max_context: int | None = None
        self._prefix_kv: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()
        self._part_memo: dict[tuple[tuple[str, str], ...], list[int] | None] = {}

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _resolve_device(device: str) -> str:
        if device != "auto":
            return device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _load_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.gguf_file is not None:
            kwargs["gguf_file"] = self.gguf_file
        if self.revision is not None:
            kwargs["revision"] = self.revision
        return kwargs

    def _ensure_loaded(self) -> None:
        """Load tokenizer and model on first use (``create_backend`` stays cheap)."""
        if self._model is not None:
            return
        import inspect

        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        load_kwargs = self._load_kwargs()
        tokenizer = AutoTokenizer.from_pretrained(self.model_id, **load_kwargs)
        model_kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype)}
        if self.gguf_file is not None:
            from transformers import GgufConfig

            model_kwargs["quantization_config"] = GgufConfig(dequantize=True)
        model = AutoModelForCausalLM.from_pretrained(self.model_id, **load_kwargs, **model_kwargs)
        model.to(self.device)
        model.eval()
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        self._model = model
        self._tokenizer = tokenizer
        self._forward = model.forward
        if self.compile:
            self._forward = torch.compile(model.forward, dynamic=True)

        eos: set[int] = set()
        for source in (
            tokenizer.eos_token_id,
            getattr(model.generation_config, "eos_token_id", None),
        ):
            if isinstance(source, int):
                eos.add(source)
            elif isinstance(source, (list, tuple)):
                eos.update(int(t) for t in source)
        self._eos_ids = frozenset(eos)
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = min(eos) if eos else 0
        self._pad_id = int(pad)
        self._max_context = self._resolve_max_context(model.config, tokenizer)
        logger.info(
            "Loaded teacher %s (%s, %s) in %.1f s; context %d tokens",
            self.model_id,
            self.dtype,
            self.device,
            time.perf_counter() - started,
            self._max_context,
        )

    def _resolve_max_context(self, config: Any, tokenizer: Any) -> int:
        if self._max_context_arg is not None:
            return self._max_context_arg
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(text_config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 1_000_000:
            return model_max
        raise ValueError(
            f"cannot tell the context window of {self.model_id}; pass max_context explicitly"
        )

    @property
    def max_context(self) -> int:
        """The context window in tokens (loads the model if needed)."""
        self._ensure_loaded()
        assert self._max_context is not None
        return self._max_context

    # ------------------------------------------------------------------ interface
    def describe(self) -> dict[str, Any]:
        """Model id, revision or GGUF file, conversion source, settings and library versions."""
        import torch
        import transformers

        description: dict[str, Any] = {
            "backend": "transformers",
            "name": self.name,
            "model": self.model_id,
            "revision": self.revision,
            "gguf_file": self.gguf_file,
            "dtype": self.dtype,
            "device": self.device,
            "batch_size": self.batch_size,
            "max_context": self._max_context or self._max_context_arg,
            "prompt_overflow": self.prompt_overflow,
            "prefix_cache": self.prefix_cache,
            "compile": self.compile,
            "static_cache": self.static_cache,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
        }
        marker = Path(self.model_id) / "conversion.json"
        if marker.is_file():
            try:
                description["converted_from"] = json.loads(marker.read_text("utf-8")).get("source")
            except ValueError:
                logger.warning("unreadable conversion marker %s", marker)
        commit = getattr(getattr(self._model, "config", None), "_commit_hash", None)
        if commit:
            description["commit_hash"] = commit
        return description

    def clear_prefix_cache(self) -> None:
        """Forget the keys/values of the prefixes seen so far."""
        self._prefix_kv.clear()

    def close(self) -> None:
        """Drop the model, tokenizer and cached prefixes."""
        self._model = None
        self._tokenizer = None
        self._forward = None
        self._part_memo.clear()
        self.clear_prefix_cache()
        gc.collect()

    def generate(
        self, requests: Sequence[GenerationRequest], decoding: DecodingConfig
    ) -> list[GenerationResult]:
        """Complete ``requests``; results come back in the order of ``requests``."""
        import torch

        if not requests:
            return []
        torch.set_flush_denormal(True)
        self._ensure_loaded()
        unknown = set(decoding.extra) - KNOWN_EXTRA
        if unknown:
            logger.warning("decoding.extra keys ignored by the transformers backend: %s", unknown)
        started = time.perf_counter()
        prepared = [self._prepare(i, r, decoding.max_new_tokens) for i, r in enumerate(requests)]
        results: list[GenerationResult | None] = [None] * len(requests)
        for p in prepared:
            if p.error is not None:
                results[p.index] = GenerationResult(
                    key=p.request.key,
                    text="",
                    prompt_tokens=len(p.ids),
                    generated_tokens=0,
                    finish_reason="error",
                    error=p.error,
                )
        batches = self._plan_batches([p for p in prepared if p.error is None])
        bar, callback = self._progress_bar(len(requests))
        done = len(requests) - sum(len(b) for b in batches)
        generated_total = 0
        try:
            for batch in batches:
                for result, p in zip(self._generate_batch(batch, decoding), batch, strict=True):
                    results[p.index] = result
                    generated_total += result.generated_tokens
                done += len(batch)
                elapsed = time.perf_counter() - started
                if bar is not None:
                    bar.update(len(batch))
                    bar.set_postfix(tok_s=f"{generated_total / max(elapsed, 1e-9):.1f}")
                if callback is not None:
                    callback(done, len(requests), generated_total)
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.perf_counter() - started
        logger.info(
            "Generated %d tokens for %d requests in %.1f s (%.1f tok/s)",
            generated_total,
            len(requests),
            elapsed,
            generated_total / max(elapsed, 1e-9),
        )
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _progress_bar(self, total: int) -> tuple[Any, ProgressCallback | None]:
        if callable(self.progress):
            return None, self.progress
        if not self.progress:
            return None, None
        from tqdm.auto import tqdm

        # disable=None: no bar when not on a terminal (e.g. logs of a Kedro run)
        return tqdm(total=total, unit="req", desc=f"teacher {self.name}", disable=None), None

    # ------------------------------------------------------------------ prompts
    def _full_chat(self, request: GenerationRequest) -> list[dict[str, str]]:
        prefix = [dict(m) for m in request.prefix_messages]
        messages = [dict(m) for m in request.messages]
        if prefix and messages[: len(prefix)] == prefix:
            return messages
        return prefix + messages

    def _render_ids(self, chat: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
        tokenizer = self._tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                chat, add_generation_prompt=generation_prompt, tokenize=False
            )
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        text = "\n\n".join(m["content"] for m in chat)
        return list(tokenizer(text, add_special_tokens=True)["input_ids"])

    def _part_ids(self, part: list[dict[str, str]]) -> list[int] | None:
        """Tokens of ``part`` rendered alone (memoised: every request of a task shares it)."""
        key = tuple((m["role"], m["content"]) for m in part)
        if key not in self._part_memo:
            try:
                self._part_memo[key] = self._render_ids(part, generation_prompt=False)
            except Exception as error:  # templates may refuse a partial chat (e.g. role order)
                logger.debug("chat template cannot render the prefix alone: %s", error)
                self._part_memo[key] = None
            while len(self._part_memo) > 4 * PREFIX_LRU_SIZE:
                self._part_memo.pop(next(iter(self._part_memo)))
        return self._part_memo[key]

    def _matched_len(self, part: list[dict[str, str]], full_ids: list[int]) -> int:
        """Tokens of ``full_ids`` that the rendering of ``part`` alone covers (0: not a prefix)."""
        part_ids = self._part_ids(part)
        if part_ids is None:
            return 0
        common = _common_prefix_len(part_ids, full_ids)
        if common == len(part_ids) or len(part_ids) - common <= BOUNDARY_SLACK:
            return common
        return 0

    def _prepare(self, index: int, request: GenerationRequest, max_new_tokens: int) -> _Prepared:
        chat = self._full_chat(request)
        ids = self._render_ids(chat, generation_prompt=True)
        assert self._max_context is not None
        budget = self._max_context - max_new_tokens
        prefix_len = 0
        if request.prefix_messages and (self.prefix_cache or len(ids) > budget):
            prefix_len = self._matched_len(chat[: len(request.prefix_messages)], ids)
            if prefix_len == 0:
                logger.debug("request %s: prompt does not start with its prefix", request.key)
            prefix_len = min(prefix_len, len(ids) - 1)  # at least one token left to prefill
        if len(ids) <= budget:
            return _Prepared(index, request, ids, prefix_len if self.prefix_cache else 0)
        if self.prompt_overflow == "reject" or budget < 1:
            return _Prepared(
                index,
                request,
                ids,
                error=f"prompt of {len(ids)} tokens exceeds context {budget} "
                f"({self._max_context} minus max_new_tokens {max_new_tokens})",
            )
        head = 0
        if chat and chat[0].get("role") == "system" and len(chat) > 1:
            head = self._matched_len(chat[:1], ids)
        if head >= budget:
            head = 0
        cut = ids[:head] + ids[len(ids) - (budget - head) :]
        logger.debug(
            "request %s: prompt of %d tokens cut to %d (kept %d head tokens, prefix %d)",
            request.key,
            len(ids),
            len(cut),
            head,
            prefix_len,
        )
        return _Prepared(index, request, cut, 0, truncated=True)

    def _plan_batches(self, prepared: list[_Prepared]) -> list[list[_Prepared]]:
        """Group by shared prefix, sort by suffix length, and cut into batches of at most
        ``batch_size``. A prefix used by one request only, and not cached yet, goes without."""
        groups: dict[tuple[int, ...] | None, list[_Prepared]] = {}
        for p in prepared:
            groups.setdefault(p.prefix_key, []).append(p)
        lone = [
            k
            for k, members in groups.items()
            if k is not None and len(members) < 2 and k not in self._prefix_kv
        ]
        for key in lone:
            for p in groups.pop(key):
                p.prefix_len = 0
                groups.setdefault(None, []).append(p)
        batches: list[list[_Prepared]] = []
        for members in groups.values():
            members.sort(key=lambda p: len(p.ids) - p.prefix_len)
            batches.extend(
                members[i : i + self.batch_size] for i in range(0, len(members), self.batch_size)
            )
        return batches

    # ------------------------------------------------------------------ model calls
    def _call(self, **kwargs: Any) -> Any:
        if self._cache_kwarg != "cache":
            kwargs[self._cache_kwarg] = kwargs.pop("cache")
        return self._model(**kwargs)

    def _prefix_states(self, key: tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer ``(keys, values)`` of the prefix, each ``(1, kv_heads, P, head_dim)``."""
        import torch
        from transformers import DynamicCache

        if key in self._prefix_kv:
            self._prefix_kv.move_to_end(key)
            return self._prefix_kv[key]
        cache = DynamicCache(config=self._model.config)
        ids = torch.tensor([key], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            self._call(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        states = [(layer.keys, layer.values) for layer in cache.layers]
        self._prefix_kv[key] = states
        while len(self._prefix_kv) > PREFIX_LRU_SIZE:
            self._prefix_kv.popitem(last=False)
        return states

    def _new_cache(self, batch: int, total_len: int, prefix: list[tuple[Any, Any]] | None) -> Any:
        """A cache for ``batch`` rows holding the prefix states copied into every row.

        Default: when every layer is plain full attention, layers preallocated to ``total_len``
        and filled in place (a ``DynamicCache`` concatenates, i.e. copies the whole cache, at
        every step; this saves about a quarter of a decode step at 16 rows of 400 tokens on
        CPU); otherwise a ``DynamicCache``. ``static_cache``: a ``StaticCache``.
        """
        from transformers import DynamicCache, StaticCache
        from transformers.cache_utils import Cache, DynamicLayer

        if self.static_cache:
            cache = StaticCache(config=self._model.config, max_cache_len=total_len)
        else:
            cache = DynamicCache(config=self._model.config)
            if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
                layer_class = _preallocated_layer_class()
                cache = Cache(layers=[layer_class(total_len) for _ in cache.layers])
        if prefix is not None:
            for layer_idx, (keys, values) in enumerate(prefix):
                cache.update(
                    keys.expand(batch, -1, -1, -1).contiguous(),
                    values.expand(batch, -1, -1, -1).contiguous(),
                    layer_idx,
                )
        return cache

    def _next_tokens(
        self, logits: torch.Tensor, rows: list[_Row], decoding: DecodingConfig
    ) -> list[int]:
        """Pick one token per row from ``logits`` of shape ``(rows, vocab)``."""
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
            cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
            drop = cumulative - sorted_scores.softmax(dim=-1) >= decoding.top_p  # keep the first
            sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
            scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
        probs = scores.softmax(dim=-1)
        return [
            int(torch.multinomial(probs[i], 1, generator=row.generator).item())
            for i, row in enumerate(rows)
        ]

    def _update_row(self, row: _Row, token: int, stops: Sequence[str]) -> None:
        """Append ``token`` to ``row`` and mark it finished at EOS or at a stop string."""
        row.generated.append(token)
        if token in self._eos_ids:
            row.finish_reason = "stop"
            return
        if not stops:
            return  # the text is decoded once, at the end
        previous = len(row.text)
        row.text = self._tokenizer.decode(row.generated, skip_special_tokens=True)
        longest = max(len(s) for s in stops)
        start = max(0, previous - longest + 1)
        hits = [i for i in (row.text.find(s, start) for s in stops if s) if i >= 0]
        if hits:
            row.text = row.text[: min(hits)]
            row.finish_reason = "stop"

    def _generate_batch(
        self, batch: list[_Prepared], decoding: DecodingConfig
    ) -> list[GenerationResult]:
        """Decode one batch. Tensors: ``suffix`` ``(B, S)``, ``mask`` ``(B, P + S + t)``,
        ``positions`` ``(B, S)`` then ``(B, 1)``, logits ``(B, vocab)``."""
        import torch

        prefix_len = batch[0].prefix_len
        prefix = self._prefix_states(batch[0].prefix_key) if prefix_len else None
        n_rows = len(batch)
        suffixes = [p.ids[prefix_len:] for p in batch]
        width = max(len(s) for s in suffixes)
        max_new = decoding.max_new_tokens
        total_len = prefix_len + width + max_new
        device = self.device

        input_ids = torch.full((n_rows, width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((n_rows, total_len if self.static_cache else prefix_len + width))
        mask = mask.to(torch.long)
        mask[:, :prefix_len] = 1
        for i, suffix in enumerate(suffixes):
            input_ids[i, width - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
            mask[i, prefix_len + width - len(suffix) : prefix_len + width] = 1
        positions = (mask[:, : prefix_len + width].cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
        input_ids, mask, positions = input_ids.to(device), mask.to(device), positions.to(device)

        rows = [_Row(prepared=p, generated=[]) for p in batch]
        if decoding.do_sample:
            for row in rows:
                row.generator = torch.Generator(device=device)
                row.generator.manual_seed(row_seed(decoding.seed, row.prepared.request.key))

        cache = self._new_cache(n_rows, total_len, prefix)
        active = list(range(n_rows))  # batch rows still decoding, in cache order
        with torch.inference_mode():
            out = self._call(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1, :]
            next_pos = positions[:, -1] + 1
            seen = prefix_len + width
            forward = self._forward if self._forward is not None else self._model
            for step in range(max_new):
                tokens = self._next_tokens(logits, [rows[i] for i in active], decoding)
                for i, token in zip(active, tokens, strict=True):
                    if rows[i].finish_reason is None:
                        self._update_row(rows[i], token, rows[i].prepared.request.stop)
                keep = [k for k, i in enumerate(active) if rows[i].finish_reason is None]
                if not keep or step == max_new - 1:
                    break
                if self.static_cache:
                    # the preallocated cache keeps every row: finished ones are fed padding
                    step_tokens = torch.tensor(
                        [
                            t if rows[i].finish_reason is None else self._pad_id
                            for i, t in zip(active, tokens, strict=True)
                        ],
                        dtype=torch.long,
                        device=device,
                    )
                    mask[:, seen] = 1
                else:
                    step_tokens = torch.tensor(tokens, dtype=torch.long, device=device)
                    if len(keep) < len(active):  # finished rows leave the batch
                        index = torch.tensor(keep, dtype=torch.long, device=device)
                        cache.batch_select_indices(index)
                        mask, next_pos = mask[index], next_pos[index]
                        step_tokens = step_tokens[index]
                        active = [active[k] for k in keep]
                    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
                logits = forward(
                    input_ids=step_tokens[:, None],
                    attention_mask=mask,
                    position_ids=next_pos[:, None],
                    **{self._cache_kwarg: cache},
                    use_cache=True,
                ).logits[:, -1, :]
                next_pos = next_pos + 1
                seen += 1
        return [self._result(row) for row in rows]

    def _result(self, row: _Row) -> GenerationResult:
        p = row.prepared
        text = row.text
        if not p.request.stop:
            text = self._tokenizer.decode(row.generated, skip_special_tokens=True)
        return GenerationResult(
            key=p.request.key,
            text=text,
            prompt_tokens=len(p.ids),
            generated_tokens=len(row.generated),
            finish_reason=row.finish_reason or "length",
            prompt_truncated=p.truncated,
        )


@functools.cache
def _preallocated_layer_class() -> type:
    """A ``DynamicLayer`` that preallocates ``capacity`` positions and writes in place.

    ``keys``/``values`` are views ``(batch, kv_heads, length, head_dim)`` of buffers
    ``(batch, kv_heads, capacity, head_dim)``; ``batch_select_indices`` keeps some rows.
    """
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.device = key_states.device
            batch, heads, _, _ = key_states.shape
            self._key_buffer = key_states.new_empty(
                (batch, heads, self.capacity, key_states.shape[-1])
            )
            self._value_buffer = value_states.new_empty(
                (batch, heads, self.capacity, value_states.shape[-1])
            )
            self.is_initialized = True
            self._refresh()

        def _refresh(self) -> None:
            self.keys = self._key_buffer[:, :, : self.length]
            self.values = self._value_buffer[:, :, : self.length]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self.capacity:
                raise RuntimeError(f"cache of {self.capacity} positions cannot hold {end}")
            self._key_buffer[:, :, self.length : end] = key_states
            self._value_buffer[:, :, self.length : end] = value_states
            self.length = end
            self._refresh()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def batch_select_indices(self, indices: Any) -> None:
            """Keep the rows ``indices`` (ascending), moving each down in place.

            Only the filled positions of the rows that move are copied, and no new buffer is
            allocated (indexing would copy every row's whole capacity).
            """
            if not self.is_initialized:
                return
            for target, source in enumerate(indices.tolist()):
                if source != target:
                    self._key_buffer[target, :, : self.length] = self._key_buffer[
                        source, :, : self.length
                    ]
                    self._value_buffer[target, :, : self.length] = self._value_buffer[
                        source, :, : self.length
                    ]
            self._key_buffer = self._key_buffer[: len(indices)]
            self._value_buffer = self._value_buffer[: len(indices)]
            self._refresh()

        def reset(self) -> None:
            self.length = 0
            super().reset()

    return PreallocatedLayer
