"""The one tokenisation of prompts and targets, shared by generation and student training.

A *prompt* is either a chat (a sequence of ``{"role", "content"}`` messages, a teacher's
few-shot prompt) or plain text (a student's view input such as ``"[predict] Question: …"``).

- A chat is rendered with the tokenizer's chat template (generation prompt appended) and
  encoded without adding special tokens (the template writes them). A tokenizer without a
  chat template joins the contents with a blank line and encodes them as plain text.
- Plain text is encoded exactly as given, with the tokenizer's own special tokens (T5 appends
  ``</s>``; a Llama-style tokenizer may prepend ``<s>``): a student sees at generation time
  exactly the ids it was trained on, because training encodes its inputs with the same call.

A student's view input is a *student prompt* (:func:`student_prompt`): a decoder-only student
whose tokenizer has a chat template (SmolLM2-Instruct, Qwen3) reads it as one user turn of its
own chat format, so its answer starts the assistant turn and ends with the end-of-turn token the
instruct model already knows; other students (T5, base models) read the plain text. Training,
generation, dev accuracy and option log-likelihood all encode it through this one function.

A *target* (what a student learns to produce) is encoded without special tokens and always
ends with the EOS token, so a trained student learns to stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Chat = Sequence[Mapping[str, str]]
Prompt = str | Chat


def is_chat(prompt: Prompt) -> bool:
    """Whether ``prompt`` is a chat (messages) rather than plain text."""
    return not isinstance(prompt, str)


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_chat(tokenizer: Any, chat: Chat, *, add_generation_prompt: bool = True) -> str:
    """The text of ``chat``: the tokenizer's chat template, or the contents a blank line apart
    when it has none (base models)."""
    messages = [{"role": m["role"], "content": m["content"]} for m in chat]
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=False
        )
    return "\n\n".join(m["content"] for m in messages)


def encode_prompt(
    tokenizer: Any, prompt: Prompt, *, add_generation_prompt: bool = True
) -> list[int]:
    """Token ids of ``prompt`` (see the module docstring for chats vs. plain text)."""
    if is_chat(prompt):
        text = render_chat(tokenizer, prompt, add_generation_prompt=add_generation_prompt)  # type: ignore[arg-type]
        special = not has_chat_template(tokenizer)
    else:
        text, special = str(prompt), True
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def student_prompt(tokenizer: Any, text: str, *, decoder_only: bool) -> Prompt:
    """What a student reads for the view input ``text``: one user message when it is
    decoder-only and its tokenizer has a chat template, else ``text`` itself (module docstring).

    Measured on the default (SmolLM2-135M-Instruct, Standard, 10 steps of 8 CQA examples): the
    plain text left 5-10 % of test answers unparseable, many of them continuing the last answer
    choice before "The answer is"; the chat turn separates question and answer."""
    if decoder_only and has_chat_template(tokenizer):
        return [{"role": "user", "content": text}]
    return text


def eos_id(tokenizer: Any) -> int:
    """The tokenizer's EOS id; a tokenizer without one cannot train a student that stops."""
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no EOS token")
    return int(eos)


def encode_target(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a target text, without special tokens, EOS appended."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return [*ids, eos_id(tokenizer)]
