"""The generation engine: one ``generate(requests, DecodingConfig)`` for decoder-only and
encoder-decoder models, for chat and plain-text requests, with its model's lifetime held by a
context manager::

    with GenerationEngine.from_pretrained(folder, device="cpu", prompt_overflow="keep_start",
                                          max_context=512) as engine:
        results = engine.generate(requests, DecodingConfig(max_new_tokens=24))

``from_pretrained`` loads the model (and frees it, with the GPU memory it held, when the
engine closes); ``from_model`` wraps a model already in memory, which the caller keeps.
See ``docs/generation.md``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_distillation.generation.decode import KNOWN_EXTRA, ModelFamily, Row, decode, seed_rows
from llm_distillation.generation.plan import PreparedRequest, RequestPlanner
from llm_distillation.generation.types import (
    PROMPT_OVERFLOW_MODES,
    DecodingConfig,
    GenerationRequest,
    GenerationResult,
    PromptOverflow,
)

logger = logging.getLogger(__name__)

DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "bf16": "bfloat16", "fp16": "float16"}
DTYPES = ("float32", "bfloat16", "float16")


def resolve_device(device: str) -> str:
    """``"auto"``: CUDA when available, else CPU; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    """``"auto"``: bfloat16 on CUDA, float32 elsewhere; aliases (``bf16``…) to torch names."""
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    name = DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use auto, {', '.join(DTYPES)}")
    return name


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op thread count set to ``threads`` (unchanged when ``None``), restored
    on exit."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"cpu_threads must be at least 1, got {threads}")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _context_window(model: Any, tokenizer: Any) -> int | None:
    config = model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(text_config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        return model_max
    return None


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    eos: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            eos.add(source)
        elif isinstance(source, (list, tuple)):
            eos.update(int(t) for t in source)
    return frozenset(eos)


@dataclass(frozen=True)
class _Settings:
    """The engine settings its constructors take (same names, same order); checked when made
    (:func:`check_settings`)."""

    batch_size: int
    prompt_overflow: PromptOverflow
    max_context: int | None
    prefix_cache: bool
    progress: bool
    compile: bool = False

    def __post_init__(self) -> None:
        check_settings(self.batch_size, self.prompt_overflow, self.max_context)


class GenerationEngine:
    """Batched generation with one model (see the module docstring); build it with
    :meth:`from_pretrained` or :meth:`from_model`.

    ``generate`` groups requests into batches of ``batch_size`` sorted by prompt length (by
    shared prefix first, for a decoder-only model with ``prefix_cache``), decodes greedily or by
    seeded sampling, and returns results in request order. A prompt over the budget (decoder-
    only: ``max_context - max_new_tokens``; encoder-decoder: ``max_context`` encoder tokens) is
    handled by ``prompt_overflow``: ``"reject"``, ``"truncate_demos"`` or ``"keep_start"``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        settings: _Settings,
        *,
        owns_model: bool,
        threads: contextlib.ExitStack | None = None,
        source: dict[str, Any] | None = None,
    ) -> None:
        window = settings.max_context or _context_window(model, tokenizer)
        if window is None:
            raise ValueError(
                f"cannot tell the context window of {type(model).__name__}; pass max_context"
            )
        self.max_context = window
        self.is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        self.eos_ids = _eos_ids(model, tokenizer)
        self._family: ModelFamily | None = _family(
            model,
            tokenizer,
            self.eos_ids,
            prefix_cache=settings.prefix_cache,
            compile=settings.compile,
        )
        self.device = str(self._family.device)
        self._planner: RequestPlanner | None = RequestPlanner(
            tokenizer,
            max_context=self.max_context,
            prompt_overflow=settings.prompt_overflow,
            share_prefixes=self._family.prefix_cache is not None,
            reserve_new_tokens=not self.is_encoder_decoder,
        )
        self._model = model
        self._tokenizer = tokenizer
        self._owns_model = owns_model
        self._was_training = bool(getattr(model, "training", False))
        self._exit = threads or contextlib.ExitStack()
        self.batch_size = settings.batch_size
        self.prompt_overflow: PromptOverflow = settings.prompt_overflow
        self.progress = settings.progress
        self.source = dict(source or {})
        model.eval()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        revision: str | None = None,
        gguf_file: str | None = None,
        prompt_overflow: PromptOverflow = "reject",
        max_context: int | None = None,
        prefix_cache: bool = True,
        compile: bool = False,
        cpu_threads: int | None = None,
        progress: bool = False,
    ) -> GenerationEngine:
        """Load ``model`` (a local folder or a Hub id; a GGUF file in it is dequantised) as a
        causal or a seq2seq LM, as its config says (``is_encoder_decoder``). Remote code is
        never run. ``device``: ``"auto"``, ``"cpu"``, ``"cuda"``…; ``dtype``: ``"auto"``
        (float32 on CPU, bfloat16 on CUDA), ``"float32"``, ``"bfloat16"``, ``"float16"``;
        ``cpu_threads``: torch's thread count while the engine is open."""
        settings = _Settings(
            batch_size, prompt_overflow, max_context, prefix_cache, progress, compile
        )
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        return cls._open(
            lambda: _load(str(model), device, dtype, revision, gguf_file),
            settings,
            cpu_threads,
            owns_model=True,
            source={"model": str(model), "revision": revision, "gguf_file": gguf_file},
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 16,
        prompt_overflow: PromptOverflow = "reject",
        max_context: int | None = None,
        prefix_cache: bool = True,
        cpu_threads: int | None = None,
        progress: bool = False,
    ) -> GenerationEngine:
        """Generate with a model already in memory (e.g. just trained), on its device. The
        caller keeps it: closing the engine only restores its train/eval mode."""
        settings = _Settings(batch_size, prompt_overflow, max_context, prefix_cache, progress)
        return cls._open(
            lambda: (model, tokenizer),
            settings,
            cpu_threads,
            owns_model=False,
            source={"model": type(model).__name__, "in_memory": True},
        )

    @classmethod
    def _open(
        cls,
        load: Callable[[], tuple[Any, Any]],
        settings: _Settings,
        cpu_threads: int | None,
        *,
        owns_model: bool,
        source: dict[str, Any],
    ) -> GenerationEngine:
        """An engine on the model and tokenizer ``load`` returns, with torch's thread count set
        to ``cpu_threads`` from before loading until the engine closes (restored at once if
        loading or building fails)."""
        threads = contextlib.ExitStack()
        threads.enter_context(torch_threads(cpu_threads))
        try:
            model, tokenizer = load()
            return cls(
                model, tokenizer, settings, owns_model=owns_model, threads=threads, source=source
            )
        except BaseException:
            threads.close()
            raise

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> GenerationEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._model is None

    @property
    def model(self) -> Any:
        self._check_open()
        return self._model

    @property
    def tokenizer(self) -> Any:
        self._check_open()
        return self._tokenizer

    def close(self) -> None:
        """Release the model (a loaded one is freed, GPU memory included; a caller's model gets
        its train/eval mode back), forget cached prefixes, restore torch's thread count."""
        if self._model is None:
            return
        if not self._owns_model and self._was_training:
            self._model.train()
        on_cuda = self.device.startswith("cuda")
        self.clear_prefix_cache()
        self._model = self._tokenizer = self._family = self._planner = None
        gc.collect()
        if on_cuda:
            import torch

            torch.cuda.empty_cache()
        self._exit.close()

    def clear_prefix_cache(self) -> None:
        """Forget the keys/values of the prefixes seen so far."""
        if self._family is not None and self._family.prefix_cache is not None:
            self._family.prefix_cache.clear()

    def _check_open(self) -> None:
        if self._model is None:
            raise RuntimeError("the generation engine is closed")

    def describe(self) -> dict[str, Any]:
        """Model source, family, settings and library versions (for manifests)."""
        import torch
        import transformers

        self._check_open()
        description: dict[str, Any] = {
            **self.source,
            "family": "encoder-decoder" if self.is_encoder_decoder else "decoder-only",
            "dtype": str(self._model.dtype).removeprefix("torch."),
            "device": self.device,
            "batch_size": self.batch_size,
            "max_context": self.max_context,
            "prompt_overflow": self.prompt_overflow,
            "prefix_cache": self._family.prefix_cache is not None,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
        }
        commit = getattr(self._model.config, "_commit_hash", None)
        if commit:
            description["commit_hash"] = commit
        return description

    # ------------------------------------------------------------------ generation
    def prepare(self, request: GenerationRequest, max_new_tokens: int) -> PreparedRequest:
        """The tokenised request as ``generate`` would decode it (ids after the overflow
        policy, shared prefix length, error)."""
        self._check_open()
        return self._planner.prepare(0, request, max_new_tokens)

    def generate(
        self, requests: Sequence[GenerationRequest], decoding: DecodingConfig
    ) -> list[GenerationResult]:
        """Complete ``requests``; results come back in the order of ``requests``."""
        import torch

        self._check_open()
        if not requests:
            return []
        torch.set_flush_denormal(True)
        unknown = set(decoding.extra) - KNOWN_EXTRA
        if unknown:
            logger.warning("decoding.extra keys ignored by the generation engine: %s", unknown)
        started = time.perf_counter()
        prepared = [
            self._planner.prepare(i, r, decoding.max_new_tokens) for i, r in enumerate(requests)
        ]
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
        batches = self._plan(p for p in prepared if p.error is None)
        generated = 0
        with self._progress_bar(sum(len(b) for b in batches)) as bar:
            for batch in batches:
                for row in self._decode_batch(batch, decoding):
                    results[row.prepared.index] = row.result(self._tokenizer)
                    generated += len(row.generated)
                bar.update(len(batch))
        elapsed = time.perf_counter() - started
        logger.info(
            "Generated %d tokens for %d requests in %.1f s (%.1f tok/s)",
            generated,
            len(requests),
            elapsed,
            generated / max(elapsed, 1e-9),
        )
        return [r for r in results if r is not None]

    def plan(
        self, requests: Sequence[GenerationRequest], max_new_tokens: int
    ) -> list[list[PreparedRequest]]:
        """The batches ``generate`` would decode ``requests`` in (rows of rejected prompts
        left out)."""
        self._check_open()
        prepared = [self._planner.prepare(i, r, max_new_tokens) for i, r in enumerate(requests)]
        return self._plan(p for p in prepared if p.error is None)

    def _plan(self, prepared: Iterable[PreparedRequest]) -> list[list[PreparedRequest]]:
        cached = self._family.prefix_cache or ()
        return self._planner.plan(list(prepared), self.batch_size, cached)

    @property
    def cached_prefixes(self) -> int:
        """Distinct shared prefixes whose keys/values are cached now."""
        prefix_cache = self._family.prefix_cache if self._family is not None else None
        return len(prefix_cache) if prefix_cache is not None else 0

    def _decode_batch(self, batch: list[PreparedRequest], decoding: DecodingConfig) -> list[Row]:
        import torch

        rows = [Row(prepared=p) for p in batch]
        seed_rows(rows, decoding, self._family.device)
        with torch.inference_mode():
            logits, stepper = self._family.start(batch, decoding.max_new_tokens)
            decode(rows, logits, stepper, decoding, eos_ids=self.eos_ids, tokenizer=self._tokenizer)
        return rows

    @contextlib.contextmanager
    def _progress_bar(self, total: int) -> Iterator[Any]:
        from tqdm.auto import tqdm

        # disable=None: no bar when not on a terminal (e.g. logs of a Kedro run)
        bar = tqdm(
            total=total, unit="req", desc="generation", disable=None if self.progress else True
        )
        try:
            yield bar
        finally:
            bar.close()


def _family(
    model: Any, tokenizer: Any, eos_ids: frozenset[int], *, prefix_cache: bool, compile: bool
) -> ModelFamily:
    """The prefill/decode implementation of ``model``'s family (``config.is_encoder_decoder``).
    Padding uses the tokenizer's pad token, else the smallest EOS id."""
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = min(eos_ids) if eos_ids else 0
    if not getattr(model.config, "is_encoder_decoder", False):
        from llm_distillation.generation.decoder_only import DecoderOnlyModel

        return DecoderOnlyModel(model, pad_id=int(pad), prefix_cache=prefix_cache, compile=compile)
    from llm_distillation.generation.encoder_decoder import EncoderDecoderModel

    start = model.config.decoder_start_token_id
    if start is None:
        start = getattr(model.generation_config, "decoder_start_token_id", None)
    if start is None:
        raise ValueError(f"{type(model).__name__} has no decoder_start_token_id")
    return EncoderDecoderModel(model, pad_id=int(pad), decoder_start_id=int(start))


def check_settings(batch_size: int, prompt_overflow: str, max_context: int | None) -> None:
    """Refuse settings the engine cannot use, naming the setting."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if prompt_overflow not in PROMPT_OVERFLOW_MODES:
        raise ValueError(
            f"prompt_overflow must be one of {list(PROMPT_OVERFLOW_MODES)}, got {prompt_overflow!r}"
        )
    if max_context is not None and max_context < 2:
        raise ValueError(f"max_context must be at least 2, got {max_context}")


def _load(
    model_id: str, device: str, dtype: str, revision: str | None, gguf_file: str | None
) -> tuple[Any, Any]:
    """Tokenizer and model (causal or seq2seq, as the config says), on ``device``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    started = time.perf_counter()
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    if revision is not None:
        kwargs["revision"] = revision
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    config = AutoConfig.from_pretrained(model_id, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(model_id, **kwargs)
    model_kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
    if gguf_file is not None:
        from transformers import GgufConfig

        model_kwargs["quantization_config"] = GgufConfig(dequantize=True)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model = auto.from_pretrained(model_id, **kwargs, **model_kwargs)
    model.to(device)
    logger.info(
        "Loaded %s (%s, %s, %s) in %.1f s",
        model_id,
        "encoder-decoder" if config.is_encoder_decoder else "decoder-only",
        dtype,
        device,
        time.perf_counter() - started,
    )
    return model, tokenizer
