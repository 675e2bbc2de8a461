"""Training views (``consolidation.views.VIEW_SCHEMA``) -> tokenised training examples.

Tokenisation is the one of ``generation.tokenize``: a view's input as the student reads it
(:func:`student_prompt`: one user turn of a decoder-only student's chat template, else the plain
text with the tokenizer's own special tokens), encoded with :func:`encode_prompt`; its target
with :func:`encode_target` (no special tokens, EOS appended: every target ends with EOS).

Labels (Hugging Face convention, −100 = no loss):

- decoder-only: ``input_ids = prompt + target``; ``labels`` = −100 on every prompt token, the
  target ids on the target. Padding (added by the collator) is −100 too.
- encoder-decoder: ``input_ids = prompt``; ``labels = target``; ``decoder_input_ids`` = the
  decoder start id + the target without its last token. The decoder input is built from the
  *unmasked* target, so masking a target prefix (below) never feeds pad ids to the decoder.
- ``answer_only_loss`` (the counterfactual view, as in SCOTT): the loss covers only the answer
  of ``So the answer is <option>.`` (answer text, final period and EOS). The answer is found as
  the text after the last ``answer is `` of the target; the tokens masked are the longest common
  prefix of the target's ids and the ids of the text before the answer (``"So the answer
  is"``), so a token that merges the space with the answer (byte-level BPE ``" X"``) is kept in
  the loss, never masked.

``answer_start`` of an example is the label index where the answer tokens begin (predict,
factual and counterfactual views; −1 for explain): the dev accuracy proxy scores those tokens.

Truncation at ``max_length`` tokens (the study: 300) never cuts the target's answer.
Decoder-only examples must fit ``len(prompt) + len(target) <= max_length``; encoder-decoder
ones ``len(prompt) <= max_length`` and ``len(target) <= max_length``. When too long:

1. the prompt is shortened first, down to the budget left by the target but never below half
   of ``max_length``: the counterfactual prompt's rationale loses words from its end; then the
   task text before ``Choices:`` loses words from its middle (`` … `` marks the cut). The view
   tag at the start and the choices are kept;
2. then the target's rationale part loses words from its end (explain: the whole target is a
   rationale; factual: the text before ``So the answer is``); the answer and EOS are kept;
3. an example that still does not fit (its answer alone is too long) is dropped.

Cutting works on the text and re-encodes it with the same helpers (binary search over the
number of words removed), so a truncated prompt is exactly what ``encode_prompt`` gives for
the truncated text. :class:`TruncationCounts` counts every cut; it is logged and returned.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import polars as pl

from llm_distillation.consolidation.views import VIEW_SCHEMA, VIEWS, build_views
from llm_distillation.generation.tokenize import encode_prompt, encode_target, student_prompt
from llm_distillation.sampling import _keys as seeded_keys
from llm_distillation.training.conditions import (
    VIEW_RATIONALE,
    condition_views,
    factual_rationale,
)
from llm_distillation.training.config import ConditionSpec
from llm_distillation.training.losses import IGNORE_INDEX

logger = logging.getLogger(__name__)

ANSWER_MARKER: Final = "answer is "
ANSWER_VIEWS: Final = ("predict", "factual", "counterfactual")
_TAG: Final = re.compile(r"^\[[a-z_]+\] ")
_CHOICES: Final = "\nChoices: "
_RATIONALE: Final = "\nRationale: "
_ELLIPSIS: Final = " … "


@dataclass(frozen=True)
class Example:
    """One tokenised training example (see the module docstring for the label layout)."""

    example_id: str
    view: str
    option_index: int
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    decoder_input_ids: tuple[int, ...] | None = None
    answer_start: int = -1
    teacher: str | None = None
    """With ``example_id``, the source example the view belongs to (``data_plan``)."""

    @property
    def n_tokens(self) -> int:
        """Non-pad tokens the model processes (encoder + decoder)."""
        return len(self.input_ids) + len(self.decoder_input_ids or ())

    @property
    def n_label_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


@dataclass
class TruncationCounts:
    """What truncation did to a set of views."""

    examples: int = 0
    """Views tokenised (kept + dropped)."""
    prompts_cut: int = 0
    prompt_tokens_cut: int = 0
    targets_cut: int = 0
    target_tokens_cut: int = 0
    dropped: int = 0
    """Views left out: even fully cut, the prompt and the target's answer do not fit."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class ExampleSet:
    """The tokenised examples of one split, with what truncation did."""

    examples: list[Example]
    decoder_only: bool
    max_length: int
    truncation: TruncationCounts = field(default_factory=TruncationCounts)

    def __len__(self) -> int:
        return len(self.examples)

    def view_counts(self) -> dict[str, int]:
        """Examples per view."""
        return dict(Counter(e.view for e in self.examples))


def condition_view_table(
    table: pl.DataFrame | pl.LazyFrame, condition: ConditionSpec, *, seed: int = 0
) -> pl.DataFrame:
    """The views a condition trains, from a consolidated table (``VIEW_SCHEMA``), with the
    counterfactual cap of the condition applied (:func:`cap_counterfactuals`)."""
    views = build_views(
        table,
        views=condition_views(condition),
        rationale=VIEW_RATIONALE[condition.rationale],  # type: ignore[arg-type]
        factual_rationale=factual_rationale(condition),  # type: ignore[arg-type]
    )
    return cap_counterfactuals(views, condition.max_counterfactuals, seed=seed)


def cap_counterfactuals(views: pl.DataFrame, cap: int | None, *, seed: int = 0) -> pl.DataFrame:
    """Keep at most ``cap`` counterfactual views per (example, teacher) — a seeded choice:
    the options with the smallest ``sha256("{seed}:{example_id}:{option}")`` keys, as
    ``sampling.take_seeded`` chooses examples. ``None`` keeps all. Row order is kept."""
    if cap is None or views.is_empty():
        return views
    ids = views.select(
        pl.concat_str(pl.col("example_id"), pl.lit(":"), pl.col("option_index").cast(pl.String))
    ).to_series()
    keyed = views.with_row_index("_order").with_columns(_key=seeded_keys(ids, seed))
    rank = pl.col("_key").rank("ordinal").over("example_id", "teacher", "view")
    kept = keyed.filter((pl.col("view") != "counterfactual") | (rank <= cap))
    return kept.sort("_order").drop("_order", "_key")


def build_examples(
    table: pl.DataFrame | pl.LazyFrame,
    condition: ConditionSpec,
    tokenizer: Any,
    *,
    decoder_only: bool,
    max_length: int = 300,
    seed: int = 0,
) -> ExampleSet:
    """Consolidated table -> the condition's views -> tokenised examples."""
    return tokenize_views(
        condition_view_table(table, condition, seed=seed),
        tokenizer,
        decoder_only=decoder_only,
        max_length=max_length,
    )


def tokenize_views(
    views: pl.DataFrame,
    tokenizer: Any,
    *,
    decoder_only: bool,
    max_length: int = 300,
    decoder_start_id: int | None = None,
) -> ExampleSet:
    """Tokenise a view table (``VIEW_SCHEMA``) into examples, truncated at ``max_length``.

    ``decoder_start_id`` (encoder-decoder only) defaults to the tokenizer's pad id (T5's
    convention), else its EOS id.
    """
    missing = set(VIEW_SCHEMA.names()) - set(views.columns)
    if missing:
        raise ValueError(f"views table: missing columns {sorted(missing)}")
    if not decoder_only and decoder_start_id is None:
        decoder_start_id = _pad_id(tokenizer)
    counts = TruncationCounts()
    out: list[Example] = []
    cols = ("example_id", "teacher", "view", "option_index", "input", "target", "answer_only_loss")
    for i, (ex_id, teacher, view, option, text, target, answer_only) in enumerate(
        views.select(cols).iter_rows()
    ):
        if view not in VIEWS:
            raise ValueError(f"views table row {i}: field 'view': unknown view {view!r}")
        counts.examples += 1
        example = _tokenize_one(
            tokenizer,
            ex_id,
            view,
            int(option) if option is not None else -1,
            text,
            target,
            bool(answer_only),
            decoder_only=decoder_only,
            max_length=max_length,
            decoder_start_id=decoder_start_id,
            counts=counts,
            row=i,
            teacher=teacher,
        )
        if example is not None:
            out.append(example)
    result = ExampleSet(out, decoder_only=decoder_only, max_length=max_length, truncation=counts)
    logger.info(
        "tokenised %d of %d views (max_length %d): %s; truncation %s",
        len(out),
        counts.examples,
        max_length,
        result.view_counts(),
        counts.as_dict(),
    )
    return result


def _pad_id(tokenizer: Any) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(tokenizer, "eos_token_id", None)
    if pad is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has neither a pad nor an EOS token")
    return int(pad)


def answer_char_start(target: str) -> int:
    """Character index where the answer begins in a target (after the last ``answer is ``),
    −1 when the target names no answer."""
    pos = target.rfind(ANSWER_MARKER)
    return -1 if pos < 0 else pos + len(ANSWER_MARKER)


def answer_token_start(tokenizer: Any, target: str, target_ids: Sequence[int]) -> int:
    """Index of the first answer token in ``target_ids`` (see the module docstring: the
    longest common prefix with the ids of the text before the answer), −1 without answer."""
    pos = answer_char_start(target)
    if pos < 0:
        return -1
    prefix = list(tokenizer(target[:pos].rstrip(), add_special_tokens=False)["input_ids"])
    n = 0
    for a, b in zip(prefix, target_ids, strict=False):
        if a != b:
            break
        n += 1
    return n


def _tokenize_one(  # noqa: PLR0917 (one row's fields)
    tokenizer: Any,
    ex_id: str,
    view: str,
    option: int,
    text: str,
    target: str,
    answer_only: bool,
    *,
    decoder_only: bool,
    max_length: int,
    decoder_start_id: int | None,
    counts: TruncationCounts,
    row: int,
    teacher: str | None = None,
) -> Example | None:
    def encode(view_input: str) -> list[int]:
        return encode_prompt(
            tokenizer, student_prompt(tokenizer, view_input, decoder_only=decoder_only)
        )

    prompt = encode(text)
    tgt = encode_target(tokenizer, target)
    prompt_budget = max(max_length - len(tgt), max_length // 2) if decoder_only else max_length
    if len(prompt) > prompt_budget:
        fitted = _fit(_prompt_cutter(text), encode, prompt_budget)
        if fitted is None:
            counts.dropped += 1
            return None
        counts.prompts_cut += 1
        counts.prompt_tokens_cut += len(prompt) - len(fitted[1])
        prompt = fitted[1]
    target_budget = max_length - len(prompt) if decoder_only else max_length
    if len(tgt) > target_budget:
        cutter = _target_cutter(target, view)
        fitted = (
            None
            if cutter is None
            else _fit(cutter, lambda s: encode_target(tokenizer, s), target_budget)
        )
        if fitted is None:
            counts.dropped += 1
            return None
        counts.targets_cut += 1
        counts.target_tokens_cut += len(tgt) - len(fitted[1])
        target, tgt = fitted
    needs_answer = answer_only or view in ANSWER_VIEWS
    start = answer_token_start(tokenizer, target, tgt) if needs_answer else -1
    if needs_answer and start < 0:
        raise ValueError(
            f"views table row {row} ({ex_id}, {view}): field 'target': no {ANSWER_MARKER!r} "
            f"in {target!r}"
        )
    masked = list(tgt)
    if answer_only:
        masked[:start] = [IGNORE_INDEX] * start
    if decoder_only:
        return Example(
            ex_id,
            view,
            option,
            tuple(prompt + tgt),
            tuple([IGNORE_INDEX] * len(prompt) + masked),
            None,
            len(prompt) + start if start >= 0 else -1,
            teacher,
        )
    return Example(
        ex_id,
        view,
        option,
        tuple(prompt),
        tuple(masked),
        tuple([int(decoder_start_id), *tgt[:-1]]),  # type: ignore[arg-type]
        start,
        teacher,
    )


# --- text-level cutting ------------------------------------------------------------------
# A cutter maps a cut level (0 = the text as is, larger = more removed, up to cutter.levels)
# to a text; encoded length decreases (roughly monotonically) with the level.


class _Cutter:
    def __init__(self, stages: list[tuple[Callable[[int], str], int]]) -> None:
        self.stages = stages  # (text at level r of this stage, max r), earlier stages fully cut
        self.levels = sum(n for _, n in stages)

    def __call__(self, level: int) -> str:
        for make, n in self.stages:
            if level <= n:
                return make(level)
            level -= n
        make, n = self.stages[-1]
        return make(n)


def _drop_end(words: list[str], r: int, keep: int = 1) -> str:
    return " ".join(words[: max(keep, len(words) - r)])


def _drop_middle(words: list[str], r: int) -> str:
    if r <= 0:
        return " ".join(words)
    kept = max(2, len(words) - r)
    head = (kept + 1) // 2
    return " ".join(words[:head]) + _ELLIPSIS + " ".join(words[len(words) - (kept - head) :])


def _prompt_cutter(text: str) -> _Cutter:
    m = _TAG.match(text)
    tag, body = (text[: m.end()], text[m.end() :]) if m else ("", text)
    rationale = None
    if _RATIONALE in body:
        body, rationale = body.split(_RATIONALE, 1)
    choices: str | None = None
    pre = body
    if _CHOICES in body:
        pre, choices = body.rsplit(_CHOICES, 1)
    pre_words = pre.split(" ")
    rat_words = rationale.split(" ") if rationale is not None else []

    def render(pre_level: int, rat_level: int) -> str:
        out = tag + _drop_middle(pre_words, pre_level)
        if choices is not None:
            out += _CHOICES + choices
        if rationale is not None:
            out += _RATIONALE + _drop_end(rat_words, rat_level)
        return out

    stages: list[tuple[Callable[[int], str], int]] = []
    n_rat = max(0, len(rat_words) - 1)
    if rationale is not None:
        stages.append((lambda r: render(0, r), n_rat))
    stages.append((lambda r: render(r, n_rat), max(0, len(pre_words) - 2)))
    return _Cutter(stages)


def _target_cutter(target: str, view: str) -> _Cutter | None:
    if view == "explain":
        words = target.split(" ")
        return _Cutter([(lambda r: _drop_end(words, r), max(0, len(words) - 1))])
    if view != "factual":
        return None  # predict / counterfactual targets are the answer sentence alone
    marker = target.rfind("So the " + ANSWER_MARKER)
    if marker <= 0:
        return None
    words = target[:marker].rstrip().split(" ")
    suffix = target[marker:]
    return _Cutter([(lambda r: (_drop_end(words, r, keep=0) + " " + suffix).lstrip(), len(words))])


def _last_level(cutter: _Cutter, encode: Callable[[str], list[int]], budget: int) -> int:
    """The smallest cut level whose encoding fits ``budget`` (binary search), or −1."""
    if len(encode(cutter(cutter.levels))) > budget:
        return -1
    lo, hi = 0, cutter.levels
    while lo < hi:
        mid = (lo + hi) // 2
        if len(encode(cutter(mid))) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _fit(
    cutter: _Cutter, encode: Callable[[str], list[int]], budget: int
) -> tuple[str, list[int]] | None:
    """The least-cut text that fits ``budget`` and its ids, or None."""
    level = _last_level(cutter, encode, budget)
    if level < 0:
        return None
    text = cutter(level)
    return text, encode(text)
