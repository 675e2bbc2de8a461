"""One loader per benchmark behind one interface.

A loader turns one source record (a dict, in one of the benchmark's *dialects*, i.e. field
layouts) into the task fields of the normalized schema, or raises
:class:`~llm_distillation.errors.RowError` naming the bad field. ``example_id``, ``benchmark``,
``split`` and the source position are added by :func:`llm_distillation.sources.normalize`.

Dialects:
    ``hf``        the Hugging Face layout: CoS-E ``cos_e`` v1.11 (``id``, ``question``,
                  ``choices``, ``answer``), ``esnli`` (``premise``, ``hypothesis``, ``label``),
                  StrategyQA (``qid``, ``question``, ``answer``, ``facts``). The
                  distilling-step-by-step exports, the StrategyQA JSON arrays and the study's
                  consolidated shards use it too.
    ``official``  the official CommonsenseQA JSONL (``answerKey``, ``question.stem``,
                  ``question.choices[{label, text}]``).
    ``authors``   the e-SNLI authors' CSV (``pairID``, ``gold_label``, ``Sentence1``,
                  ``Sentence2``, ``Explanation_1`` …).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from llm_distillation.errors import RowError
from llm_distillation.schema import ESNLI_LABELS, YES_NO


def _text(record: Mapping[str, Any], field: str) -> str:
    if field not in record or record[field] is None:
        raise RowError(field, "missing")
    value = record[field]
    if not isinstance(value, str):
        raise RowError(field, f"expected text, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise RowError(field, "empty")
    return value


def _optional_texts(record: Mapping[str, Any], fields: tuple[str, ...]) -> list[str]:
    out = []
    for field in fields:
        value = record.get(field)
        if isinstance(value, str) and value.strip():
            out.append(value)
    return out


def _choice_list(record: Mapping[str, Any], field: str = "choices") -> list[str]:
    if field not in record or record[field] is None:
        raise RowError(field, "missing")
    choices = record[field]
    if not isinstance(choices, list) or not choices:
        raise RowError(field, f"expected a non-empty list of strings, got {choices!r}")
    for i, c in enumerate(choices):
        if not isinstance(c, str) or not c.strip():
            raise RowError(field, f"choice {i} is empty or not text: {c!r}")
    return choices


def _answer_index(choices: list[str], answer: str, field: str = "answer") -> int:
    """Index of the gold option (the first one where the text appears more than once: CoS-E
    has a few questions with repeated options)."""
    try:
        return choices.index(answer)
    except ValueError:
        raise RowError(field, f"answer {answer!r} is not one of the choices {choices!r}") from None


def content_id(prefix: str, *parts: str) -> str:
    """A stable id from the example's own text (used where the source has no id column)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def _example(
    example_id: str,
    choices: list[str],
    answer_index: int,
    explanations: list[str],
    metadata: dict[str, Any],
    **task: str,
) -> dict[str, Any]:
    """One normalized example: its ``task`` text fields (``question``; ``premise`` and
    ``hypothesis``), the choices with the gold option and its index, explanations, metadata."""
    return {
        "example_id": example_id,
        **task,
        "choices": choices,
        "answer": choices[answer_index],
        "answer_index": answer_index,
        "explanations": explanations,
        "metadata": metadata,
    }


def _no_dialect(benchmark: BenchmarkLoader, dialect: str) -> ValueError:
    return ValueError(
        f"{benchmark.name} has no dialect {dialect!r}; allowed: {sorted(benchmark.dialects)}"
    )


class BenchmarkLoader(Protocol):
    """Turns source records of one benchmark into normalized task fields."""

    name: ClassVar[str]
    dialects: ClassVar[Mapping[str, tuple[str, ...]]]
    """Per dialect, the columns every file of that dialect has (checked once per file)."""

    def to_example(self, record: Mapping[str, Any], dialect: str) -> dict[str, Any]:
        """The normalized fields of one record; raises ``RowError`` for an invalid one."""
        ...


@dataclass(frozen=True)
class CommonsenseQA:
    """CommonsenseQA: five-way multiple choice, ids from the source."""

    name: ClassVar[str] = "cqa"
    dialects: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "hf": ("id", "question", "choices", "answer"),
        "official": ("id", "answerKey", "question"),
    }

    def to_example(self, record: Mapping[str, Any], dialect: str) -> dict[str, Any]:
        example_id = _text(record, "id")
        explanations: list[str] = []
        metadata: dict[str, Any] = {}
        if dialect == "hf":
            question = _text(record, "question")
            choices = _choice_list(record)
            answer = _text(record, "answer")
            answer_index = _answer_index(choices, answer)
            explanations = _optional_texts(
                record, ("abstractive_explanation", "extractive_explanation")
            )
        elif dialect == "official":
            q = record.get("question")
            if not isinstance(q, dict):
                raise RowError(
                    "question", f"expected an object with 'stem' and 'choices', got {q!r}"
                )
            question = _text(q, "stem")
            raw = q.get("choices")
            if not isinstance(raw, list) or not raw:
                raise RowError(
                    "question.choices", f"expected a list of {{label, text}}, got {raw!r}"
                )
            labels, choices = [], []
            for i, c in enumerate(raw):
                if not isinstance(c, dict) or not isinstance(c.get("label"), str):
                    raise RowError("question.choices", f"choice {i} has no label: {c!r}")
                labels.append(c["label"])
                choices.append(_text(c, "text"))
            key = _text(record, "answerKey")
            if key not in labels:
                raise RowError("answerKey", f"label {key!r} is not one of {labels!r}")
            answer_index = labels.index(key)
            answer = choices[answer_index]
            if q.get("question_concept"):
                metadata["question_concept"] = q["question_concept"]
        else:
            raise _no_dialect(self, dialect)
        return _example(
            example_id, choices, answer_index, explanations, metadata, question=question
        )


@dataclass(frozen=True)
class ESNLI:
    """e-SNLI: premise/hypothesis with the three NLI labels as choices."""

    name: ClassVar[str] = "esnli"
    dialects: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "hf": ("premise", "hypothesis", "label"),
        "authors": ("pairID", "gold_label", "Sentence1", "Sentence2"),
    }

    def to_example(self, record: Mapping[str, Any], dialect: str) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        if dialect == "hf":
            premise = _text(record, "premise")
            hypothesis = _text(record, "hypothesis")
            label = record.get("label")
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < 3:
                raise RowError("label", f"expected 0, 1 or 2, got {label!r}")
            answer_index = label
            explanations = _optional_texts(
                record, ("explanation_1", "explanation_2", "explanation_3")
            )
        elif dialect == "authors":
            premise = _text(record, "Sentence1")
            hypothesis = _text(record, "Sentence2")
            gold = _text(record, "gold_label")
            if gold not in ESNLI_LABELS:
                raise RowError("gold_label", f"expected one of {list(ESNLI_LABELS)}, got {gold!r}")
            answer_index = ESNLI_LABELS.index(gold)
            explanations = _optional_texts(
                record, ("Explanation_1", "Explanation_2", "Explanation_3")
            )
            metadata["pairID"] = _text(record, "pairID")
        else:
            raise _no_dialect(self, dialect)
        return _example(
            content_id("esnli", premise, hypothesis),
            list(ESNLI_LABELS),
            answer_index,
            explanations,
            metadata,
            premise=premise,
            hypothesis=hypothesis,
        )


@dataclass(frozen=True)
class StrategyQA:
    """StrategyQA: yes/no questions; the human ``facts`` are its explanations."""

    name: ClassVar[str] = "strategyqa"
    dialects: ClassVar[Mapping[str, tuple[str, ...]]] = {"hf": ("qid", "question", "answer")}

    def to_example(self, record: Mapping[str, Any], dialect: str) -> dict[str, Any]:
        if dialect != "hf":
            raise _no_dialect(self, dialect)
        answer = record.get("answer")
        if not isinstance(answer, bool):
            raise RowError("answer", f"expected true or false, got {answer!r}")
        facts = record.get("facts") or []
        if isinstance(facts, str):  # the Hub export ChilleD/StrategyQA joins them into one text
            facts = [facts]
        answer_index = 0 if answer else 1
        metadata = {k: record[k] for k in ("term", "description", "decomposition") if record.get(k)}
        return _example(
            _text(record, "qid"),
            list(YES_NO),
            answer_index,
            [f for f in facts if isinstance(f, str) and f.strip()],
            metadata,
            question=_text(record, "question"),
        )


LOADERS: Mapping[str, BenchmarkLoader] = {
    loader.name: loader for loader in (CommonsenseQA(), ESNLI(), StrategyQA())
}


def get_loader(benchmark: str) -> BenchmarkLoader:
    """The loader of ``benchmark``; an unknown name fails naming the allowed ones."""
    try:
        return LOADERS[benchmark]
    except KeyError:
        raise ValueError(f"unknown benchmark {benchmark!r}; allowed: {sorted(LOADERS)}") from None


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """The ``metadata`` column's text: a compact, key-sorted JSON object."""
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)
