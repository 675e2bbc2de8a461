"""The one answer-statement parser: what answer a text states, and which option that is.

Used by consolidation's checks (does a rationale state another option than the one it was
asked to explain?) and by evaluation (which option did a student answer?). Polars
expressions throughout, so it runs on whole tables.

A *statement* is

- explicit: ``the answer is (b) X`` / ``So the correct answer is X`` / ``the relationship is
  X`` (:data:`STATEMENT`; case-insensitive; an optional option letter in brackets; the text up
  to the next punctuation, quotes and markdown stars stripped, a leading article dropped);
- leading (fixed-choice benchmarks, e-SNLI and StrategyQA): a text that opens with a label
  word (``Yes, …``, ``Neutral.``);
- bare (only with ``bare=True``, for a student's short answer): a text that opens with an
  option letter (``(b)``, ``b)``) or whose first line *is* an option text (``Cupboard.``).

A statement names an option when its letter is the option's, or its text or its *tail* (the
rest of its line, punctuation kept) equals the option's text (both normalized) or starts with
it followed by a non-word character (``bridge, since`` names ``bridge``). The tail is what
reads options that carry punctuation or are long (``washington d.c``, ``car.``, ``say "hello"
to one another``, a 70-character option): the stated text stops at the first punctuation mark.
When a statement names several options (one option's text is the start of another's), the
longest one is taken.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from llm_distillation.schema import FIXED_CHOICES

STATEMENT_START: Final = (
    r"\b(?:the\s+(?:correct\s+|right\s+|best\s+|final\s+|true\s+)?answer|"
    r"the\s+(?:correct\s+)?(?:relationship|relation|label))\s+"
    r"(?:is|would\s+be|should\s+be|must\s+be|remains)\s*:?\s*"
    r"(?:(?:actually|indeed|clearly|definitely|therefore|thus|still|simply)\s+)?"
)
"""``the answer is`` / ``the relationship is``: where a statement begins (no flags, no groups)."""
_LETTER: Final = r"(?:\(([a-eA-E])\)\s*)?"
STATEMENT: Final = r"(?i)" + STATEMENT_START + _LETTER + r"[*\"'“‘]*([^\n.,;:!?\"”’*()]{0,60})"
"""``the answer is (b) X`` / ``the relationship is X``: group 1 the option letter, group 2 the
stated text (up to the next punctuation)."""
_TAIL: Final = r"(?i)^" + STATEMENT_START + r"(?:\([a-eA-E]\)\s*)?([^\n]*)"
"""A statement's tail: the rest of its line after the start and the optional letter."""
_MARK: Final = "\x00"

BARE_LETTER: Final = r"^\W*?\(?([a-eA-E])\)(?:\s|$|[.,;:])"
"""A text opening with an option letter: ``(b)``, ``b)``, ``(B) desert``."""

UNPARSEABLE: Final = "unparseable"
"""The prediction of a text that states no option."""

_ARTICLE = r"^(?:an?|the)\s+"
_LETTER_INDEX = (["a", "b", "c", "d", "e"], [0, 1, 2, 3, 4])


def _plain(text: pl.Expr) -> pl.Expr:
    """Lower case, surrounding quotes/stars/space stripped."""
    return text.str.to_lowercase().str.strip_chars(" \t'\"*“”‘’`")


def normalize_answer(text: pl.Expr) -> pl.Expr:
    """Lower case, surrounding quotes/stars/space stripped, a leading article dropped."""
    return _plain(text).str.replace(_ARTICLE, "")


def _letter_index(letter: pl.Expr) -> pl.Expr:
    return letter.str.to_lowercase().replace_strict(
        *_LETTER_INDEX, default=None, return_dtype=pl.Int64
    )


def answer_statements(
    rows: pl.LazyFrame, scope: str = "scope", *, bare: bool = False
) -> pl.LazyFrame:
    """One row per answer statement found in ``rows[scope]``: ``row_id``, ``stmt_id``, the
    option ``letter`` (0-based, or null), the normalized ``stated`` text, the ``tail`` (the
    rest of the line, punctuation and a leading article kept, lower case; null for a leading
    word) and its
    ``kind`` (``explicit``, ``leading`` or ``bare``; see the module docstring).

    ``stmt_id`` is unique over the frame and increases with the position of explicit
    statements in their text; leading and bare statements get negative ids.
    """
    fixed = list(FIXED_CHOICES)
    fixed_words = sorted({c for labels in FIXED_CHOICES.values() for c in labels})
    # one segment per statement: from its start to the next statement's start (or the end)
    segments = (
        pl.col(scope)
        .str.replace_all(r"(?i)" + STATEMENT_START, _MARK + "$0")
        .str.split(_MARK)
        .list.slice(1)
    )
    explicit = (
        rows.select("row_id", segments.alias("segment"))
        .explode("segment")
        .with_columns(groups=pl.col("segment").str.extract_groups(r"^" + STATEMENT))
        .filter(pl.col("groups").struct.field("2").is_not_null())
        .select(
            "row_id",
            stmt_id=pl.int_range(pl.len(), dtype=pl.Int64),  # unique, not per row
            letter=_letter_index(pl.col("groups").struct.field("1")),
            stated=normalize_answer(pl.col("groups").struct.field("2")),
            tail=_plain(pl.col("segment").str.extract(_TAIL, 1)),
            kind=pl.lit("explicit"),
        )
    )
    leading = (
        rows.filter(pl.col("benchmark").is_in(fixed))
        .select(
            "row_id",
            stmt_id=pl.lit(-1, pl.Int64),
            letter=pl.lit(None, pl.Int64),
            stated=pl.col(scope).str.extract(r"^\W*(\w+)\b").str.to_lowercase(),
            tail=pl.lit(None, pl.String),
            kind=pl.lit("leading"),
        )
        .filter(pl.col("stated").is_in(fixed_words))
    )
    parts = [explicit, leading.drop_nulls("stated")]
    if bare:
        first_line = pl.col(scope).str.strip_chars().str.extract(r"^([^\n]*)")
        parts.append(
            rows.filter(pl.col(scope).is_not_null()).select(
                "row_id",
                stmt_id=pl.lit(-2, pl.Int64),
                letter=_letter_index(pl.col(scope).str.extract(BARE_LETTER)),
                stated=normalize_answer(first_line.str.strip_chars_end(" .!?;:,")),
                tail=_plain(first_line),
                kind=pl.lit("bare"),
            )
        )
    return pl.concat(parts, how="vertical_relaxed")


def _options(rows: pl.LazyFrame, keep: tuple[str, ...] = ()) -> pl.LazyFrame:
    """One row per (row_id, option): ``opt_idx``, the normalized option text ``opt`` and
    ``opt_plain`` (the same with a leading article kept)."""
    return (
        rows.select("row_id", "choices", *keep)
        .with_columns(opt_idx=pl.int_ranges(pl.col("choices").list.len()))
        .explode("choices", "opt_idx")
        .with_columns(
            opt=normalize_answer(pl.col("choices")),
            opt_plain=_plain(pl.col("choices")),
            opt_idx=pl.col("opt_idx").cast(pl.Int64),
        )
        .drop("choices")
    )


def _named(stated: pl.Expr, opt: pl.Expr) -> pl.Expr:
    """Whether the stated text names the option text (equal, or the option then a non-word)."""
    return (stated == opt) | (
        (opt.str.len_chars() > 0)
        & stated.str.starts_with(opt)
        & stated.str.slice(opt.str.len_chars(), 1).str.contains(r"^\W")
    )


def _pairs(stmts: pl.LazyFrame, options: pl.LazyFrame) -> pl.LazyFrame:
    """Every (statement, option) pair of a row with ``matched`` (the statement names it) and
    ``verbatim`` (its tail names the option with the option's own article: ``the ground``
    rather than ``ground`` when a question offers both)."""
    tail = pl.col("tail")
    return stmts.join(options, on="row_id").with_columns(
        matched=(pl.col("letter") == pl.col("opt_idx")).fill_null(False)
        | _named(pl.col("stated"), pl.col("opt"))
        | _named(tail.str.replace(_ARTICLE, ""), pl.col("opt")).fill_null(False),
        verbatim=_named(tail, pl.col("opt_plain")).fill_null(False),
    )


def statement_matches(
    rows: pl.LazyFrame, choices: pl.LazyFrame | None = None, scope: str = "scope"
) -> pl.LazyFrame:
    """Per ``row_id``: ``states_own`` (a statement names the conditioned option),
    ``states_other`` (a statement names only other options) and the first such ``stated_other``.

    ``rows`` needs ``row_id``, ``benchmark``, ``option_index``, ``scope`` and either a
    ``choices`` column or ``example_id`` with the ``choices`` frame (example_id, choices).
    """
    stmts = answer_statements(rows, scope).collect().lazy()
    stating = rows.join(stmts.select("row_id").unique(), on="row_id", how="semi")
    if choices is not None:
        stating = stating.select("row_id", "example_id", "option_index").join(
            choices, on="example_id"
        )
    pairs = _pairs(stmts, _options(stating, ("option_index",)))
    per_stmt = pairs.group_by("row_id", "stmt_id").agg(
        own=(pl.col("matched") & (pl.col("opt_idx") == pl.col("option_index"))).any(),
        other=(pl.col("matched") & (pl.col("opt_idx") != pl.col("option_index"))).any(),
        stated=pl.col("stated").first(),
    )
    # in text order (a leading option word first), so `stated_other` is always the first one
    return (
        per_stmt.sort("row_id", "stmt_id")
        .group_by("row_id", maintain_order=True)
        .agg(
            states_own=pl.col("own").any(),
            states_other=(pl.col("other") & ~pl.col("own")).any(),
            stated_other=pl.col("stated").filter(pl.col("other") & ~pl.col("own")).first(),
        )
    )


def extract_answers(
    rows: pl.DataFrame | pl.LazyFrame, scope: str = "scope", *, bare: bool = True
) -> pl.DataFrame:
    """The option each text answers: per ``row_id`` of ``rows`` (which needs ``row_id``,
    ``benchmark``, ``choices`` and ``scope``), ``predicted_index`` (0-based; null when the text
    states no option) and ``prediction`` (the option text, or :data:`UNPARSEABLE`).

    Precedence: the *last* explicit statement that names an option (a factual output ends
    "… So the answer is X."), else a leading label word, else a bare option (letter or text).
    Within one statement the letter wins over the text, then the longest option text named,
    then the option named with its own article, then the first option.
    ``bare=False`` reads explicit and leading statements only (a rationale that merely opens
    with an option's word does not answer it).
    """
    lf = rows.lazy()
    stmts = answer_statements(lf, scope, bare=bare)
    pairs = (
        _pairs(stmts, _options(lf))
        .filter(pl.col("matched"))
        .with_columns(
            rank=pl.col("kind").replace_strict(
                {"explicit": 0, "leading": 1, "bare": 2}, return_dtype=pl.Int64
            ),
            by_letter=(pl.col("letter") == pl.col("opt_idx")).fill_null(False),
            opt_len=pl.col("opt").str.len_chars(),
        )
        .sort(
            ["row_id", "rank", "stmt_id", "by_letter", "opt_len", "verbatim", "opt_idx"],
            descending=[False, False, True, True, True, True, False],
        )
        .group_by("row_id", maintain_order=True)
        .agg(predicted_index=pl.col("opt_idx").first())
    )
    out = lf.select("row_id", "choices").join(pairs, on="row_id", how="left")
    return out.select(
        "row_id",
        "predicted_index",
        prediction=pl.coalesce(
            pl.col("choices").list.get(pl.col("predicted_index"), null_on_oob=True),
            pl.lit(UNPARSEABLE),
        ),
    ).collect()
