"""What goes into the generation engine and what comes out: requests, decoding settings,
results and the prompt overflow policies. Shared by every teacher backend and by students."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

PromptOverflow = Literal["reject", "truncate_demos", "keep_start"]
PROMPT_OVERFLOW_MODES: Final = ("reject", "truncate_demos", "keep_start")
"""What happens to a prompt longer than the prompt budget (see ``docs/generation.md``):

- ``reject``: the row gets ``finish_reason="error"`` and an empty text;
- ``truncate_demos``: keep the end of the prompt, dropping tokens from the left just after a
  leading system message (the few-shot demos of a teacher chat go first);
- ``keep_start``: keep the start of the prompt (a student's view tag such as ``[predict]``),
  dropping tokens from the end; special tokens the tokenizer appends to plain text (T5's
  ``</s>``) are kept. Meant for plain-text prompts: on a chat it also drops the end of the
  rendered chat (its generation prompt).

Truncated rows carry ``prompt_truncated=True``; nothing raises.
"""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to complete: exactly one of ``messages`` and ``prompt``.

    - ``messages``: a chat (``{"role", "content"}`` dicts), rendered with the model's chat
      template (contents a blank line apart without one). ``prefix_messages`` is the start of
      the chat shared by many requests (the few-shot demos), which an engine may cache; the full
      chat is ``prefix_messages + messages`` unless ``messages`` already begins with it.
    - ``prompt``: plain text, tokenised exactly as given (no chat template): a student sees the
      text it was trained on.

    ``key`` identifies the request in results (e.g. ``"<example_id>/<task>/<option>"``);
    ``stop`` strings end the completion (the text is cut before the first one).
    """

    key: str
    messages: tuple[Mapping[str, str], ...] = ()
    prefix_messages: tuple[Mapping[str, str], ...] = ()
    stop: tuple[str, ...] = ()
    prompt: str | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (not self.messages):
            raise ValueError(
                f"request {self.key!r}: give exactly one of messages (a chat) and prompt (text)"
            )
        if self.prompt is not None and self.prefix_messages:
            raise ValueError(f"request {self.key!r}: prefix_messages belong to chat requests")

    @classmethod
    def for_prompt(cls, key: str, prompt: str | Sequence[Mapping[str, str]]) -> GenerationRequest:
        """A request for ``prompt``: plain text, or a chat (e.g. a
        :func:`~llm_distillation.generation.tokenize.student_prompt`)."""
        if isinstance(prompt, str):
            return cls(key=key, prompt=prompt)
        return cls(key=key, messages=tuple(dict(m) for m in prompt))

    @property
    def is_chat(self) -> bool:
        return self.prompt is None

    def chat(self) -> list[dict[str, str]]:
        """The full chat: ``prefix_messages + messages`` (or ``messages`` when it already
        begins with the prefix)."""
        prefix = [dict(m) for m in self.prefix_messages]
        messages = [dict(m) for m in self.messages]
        if prefix and messages[: len(prefix)] == prefix:
            return messages
        return prefix + messages


@dataclass(frozen=True)
class GenerationResult:
    """What came back for one request."""

    key: str
    text: str
    prompt_tokens: int | None  # None: unknown (a server that reports no usage)
    generated_tokens: int | None
    finish_reason: str  # "stop" (EOS or a stop string), "length" (max_new_tokens), "error"
    prompt_truncated: bool = False
    error: str | None = None


@dataclass(frozen=True)
class DecodingConfig:
    """Decoding settings shared by all backends (recorded in every shard manifest)."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
