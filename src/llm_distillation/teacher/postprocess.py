"""Post-processing of raw teacher text (pure functions).

The cleaned ``text`` is the first line of the continuation, as in the study, after removing
reasoning blocks, leading whitespace, stop markers and anything from the next demo header on.
The raw text is always kept next to it; an empty result is flagged, never replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_think(text: str) -> str:
    """Remove ``<think>…</think>`` blocks.

    An unclosed ``<think>`` at the start means the whole text is reasoning (cut off by the token
    limit): nothing is left. A closing ``</think>`` without an opening one (some chat templates
    put ``<think>`` in the prompt) drops everything up to it.
    """
    text = _THINK_BLOCK.sub("", text)
    if text.lstrip().startswith("<think>"):
        return ""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text


def cut_at_markers(text: str, markers: Iterable[str]) -> str:
    """Everything before the earliest occurrence of any marker (stop strings)."""
    cut = len(text)
    for marker in markers:
        if marker:
            at = text.find(marker)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def cut_at_next_header(text: str, headers: Iterable[str]) -> str:
    """Everything before the next demo header (``Question:`` …) the model started to write.

    A header at the very start is an echo of the turn's own header, not a new demo: it is kept.
    """
    cut = len(text)
    for header in headers:
        if header:
            at = text.find(header, 1)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def first_line(text: str) -> str:
    """The first line of ``text`` (the study keeps only this)."""
    return text.split("\n", 1)[0]


@dataclass(frozen=True)
class CleanText:
    text: str
    raw_text: str

    @property
    def is_empty(self) -> bool:
        return not self.text


def clean(
    raw_text: str | None, *, stop: Iterable[str] = (), headers: Iterable[str] = ()
) -> CleanText:
    """Raw continuation -> cleaned text (first line), keeping the raw text.

    ``None`` (no output, e.g. a backend error) gives an empty text and an empty raw text.
    """
    raw = raw_text or ""
    text = strip_think(raw).lstrip()
    text = cut_at_markers(text, stop)
    text = cut_at_next_header(text, headers)
    text = first_line(text).strip()
    return CleanText(text=text, raw_text=raw)
