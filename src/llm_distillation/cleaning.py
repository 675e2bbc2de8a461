"""The one cleaning of teacher text: named, pure functions on polars expressions.

Teacher generation cleans every output with these rules (the ``text`` that critique and
revision prompts see) and consolidation cleans the raw text with the same rules (the rationale
stored in the consolidated table), so a revision always revises exactly the rationale that is
stored. The rules are one parameter block, ``params:cleaning`` (``parameters_cleaning.yml``).
:func:`clean_strings` applies them to plain Python strings.

Each rule takes a ``pl.Expr`` of text and returns the cleaned ``pl.Expr``; :func:`clean_text`
applies them in a fixed, documented order (see ``docs/consolidation.md``):

1. :func:`remove_think` drops ``<think>…</think>`` blocks (and an unclosed ``<think>`` tail).
2. :func:`normalize_whitespace` turns CRLF/CR into LF, non-breaking spaces into spaces, trims
   trailing blanks of every line and the whole text.
3. :func:`strip_prefix_headers` removes a demo header the model echoed at the very start
   (``Assistant (clear and helpful):``, ``Rationale:`` …) but keeps what follows it.
4. :func:`strip_answer_preamble` removes a leading ``The answer is X.`` sentence: the prompt's
   own last line, echoed (the answer it states is still checked, see ``checks.py``).
5. :func:`keep_part` applies the line policy: ``first_line`` (the study's), ``first_paragraph``
   or ``all``.
6. :func:`cut_at_stop_headers` cuts the text at the first line that starts a new demo or an
   echoed prompt fragment (``Question:``, ``Choices:``, ``Premise:``, ``Q:`` …). (Cutting
   before or after the line policy gives the same text; after is cheaper.)

Nothing is ever replaced by a default text: a rationale that cleans to ``""`` stays empty and is
reported by the ``empty_text`` check (:func:`is_empty_text`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import polars as pl
from pydantic import Field

from llm_distillation.config import StrictModel

LinePolicy = Literal["first_line", "first_paragraph", "all"]

DEFAULT_STOP_HEADERS: tuple[str, ...] = (
    "Question:",
    "Q:",
    "Choices:",
    "Answer Choices:",
    "Premise:",
    "Hypothesis:",
    "Answer:",
    "A:",
    "Assistant (",
    "Assistant:",
    "User:",
    "Human:",
    "Critique:",
    "Critique request:",
    "Critique Request:",
    "Revision request:",
    "Revision Request:",
    "Revision:",
    "Briefly explain",
)
"""Lines starting with one of these (after leading blanks) end the rationale: the model began a
new demo or echoed a part of the prompt."""

DEFAULT_PREFIX_HEADERS: tuple[str, ...] = (
    r"Assistant\s*\([^)\n]*\)\s*:",
    r"Assistant\s*:",
    r"Rationale\s*:",
    r"Explanation\s*:",
    r"Revision\s*:",
    r"Revised rationale\s*:",
    r"Critique\s*:",
)
"""Regexes of headers removed from the very start of a text (what follows them is kept)."""

ANSWER_PREAMBLE = (
    r"(?i)^(?:so,?\s+|thus,?\s+|therefore,?\s+)?the\s+(?:correct\s+)?answer\s+is\s*:?\s*"
    r"[^\n.!?]{0,80}[.!?]?[ \t]*(?:\n|$)"
)
"""A leading ``The answer is X.`` that stands on its own line (an echo of the prompt's tail)."""


class CleaningRules(StrictModel):
    """How raw teacher text becomes a rationale (``params:cleaning``)."""

    keep: LinePolicy = "first_line"
    """``first_line`` (the study's policy), ``first_paragraph`` (up to the first blank line) or
    ``all``."""
    remove_think: bool = True
    strip_answer_preamble: bool = True
    stop_headers: tuple[str, ...] = Field(default=DEFAULT_STOP_HEADERS)
    """Plain text (not regexes); matched at the start of a line, case-sensitive."""
    prefix_headers: tuple[str, ...] = Field(default=DEFAULT_PREFIX_HEADERS)
    """Regexes, matched at the start of the text, case-insensitive."""


def remove_think(text: pl.Expr) -> pl.Expr:
    """Drop ``<think>…</think>`` reasoning blocks; an unclosed ``<think>`` drops the rest."""
    return text.str.replace_all(r"(?s)<think>.*?(?:</think>|\z)", "")


def normalize_whitespace(text: pl.Expr) -> pl.Expr:
    """LF line ends, plain spaces, no trailing blanks on any line, no outer whitespace."""
    return (
        text.str.replace_many(
            ["\r\n", "\r", "\u00a0", "\u2009", "\u202f"],
            ["\n", "\n", " ", " ", " "],
            leftmost=True,
        )
        .str.replace_all(r"[ \t]+\n", "\n")
        .str.strip_chars()
    )


def strip_prefix_headers(
    text: pl.Expr, patterns: tuple[str, ...] = DEFAULT_PREFIX_HEADERS
) -> pl.Expr:
    """Remove one echoed demo header at the start of the text, keeping what follows it."""
    if not patterns:
        return text
    alternatives = "|".join(f"(?:{p})" for p in patterns)
    return text.str.replace(rf"(?i)^(?:{alternatives})[ \t]*\n?", "").str.strip_chars_start()


def strip_answer_preamble(text: pl.Expr) -> pl.Expr:
    """Remove a leading ``The answer is X.`` line (the prompt's last line, echoed)."""
    return text.str.replace(ANSWER_PREAMBLE, "").str.strip_chars_start()


def cut_at_stop_headers(text: pl.Expr, headers: tuple[str, ...] = DEFAULT_STOP_HEADERS) -> pl.Expr:
    """Cut the text at the first line that starts with a stop header (a new demo or an echoed
    prompt part); a text that starts with one becomes empty."""
    if not headers:
        return text
    alternatives = "|".join(re.escape(h) for h in headers)
    return text.str.replace(rf"(?ms)^[ \t]*(?:{alternatives}).*\z", "").str.strip_chars()


def keep_part(text: pl.Expr, policy: LinePolicy = "first_line") -> pl.Expr:
    """The study's first-line policy, or the first paragraph, or everything."""
    if policy == "first_line":
        return text.str.splitn("\n", 2).struct.field("field_0").name.keep().str.strip_chars()
    if policy == "first_paragraph":
        return text.str.replace(r"(?s)\n[ \t]*\n.*\z", "").str.strip_chars()
    if policy == "all":
        return text
    raise ValueError(f"unknown line policy {policy!r}; allowed: first_line, first_paragraph, all")


def base_text(text: pl.Expr, rules: CleaningRules | None = None) -> pl.Expr:
    """Rules 1-2 (``<think>`` removal, whitespace): the part shared with the answer preamble."""
    rules = rules or CleaningRules()
    out = remove_think(text) if rules.remove_think else text
    return normalize_whitespace(out)


def finish_text(base: pl.Expr, rules: CleaningRules | None = None) -> pl.Expr:
    """Rules 3-6 on a :func:`base_text`.

    The line policy is applied before the stop-header cut: the result is the same (a stop
    header ends the kept part either way) and the cut then scans only the kept part.
    """
    rules = rules or CleaningRules()
    out = strip_prefix_headers(base, rules.prefix_headers)
    if rules.strip_answer_preamble:
        out = strip_answer_preamble(out)
    return cut_at_stop_headers(keep_part(out, rules.keep), rules.stop_headers)


def clean_text(text: pl.Expr, rules: CleaningRules | None = None) -> pl.Expr:
    """All rules, in order: raw teacher text -> the rationale kept in the consolidated table."""
    rules = rules or CleaningRules()
    return finish_text(base_text(text, rules), rules)


def clean_strings(texts: Sequence[str | None], rules: CleaningRules | None = None) -> list[str]:
    """:func:`clean_text` on Python strings (``None``: no output, cleans to ``""``)."""
    frame = pl.DataFrame({"raw": list(texts)}, schema={"raw": pl.String})
    cleaned = frame.select(clean_text(pl.col("raw"), rules).fill_null(""))
    return cleaned.to_series().to_list()


def is_empty_text(text: pl.Expr) -> pl.Expr:
    """True for a missing text or one with no word characters left after cleaning."""
    return text.is_null() | ~text.str.contains(r"\w")


def word_count(text: pl.Expr) -> pl.Expr:
    """Whitespace-separated words (0 for a missing text)."""
    return text.str.count_matches(r"\S+").fill_null(0).cast(pl.Int64)


def ends_like_sentence(text: pl.Expr) -> pl.Expr:
    """The text ends with sentence punctuation (optionally followed by quotes or brackets)."""
    return text.str.contains(r"[.!?…][\"'”’)\]*]*\z")
