"""One lazy shard job of a teacher task: prompts -> backend -> post-processed rows.

A :class:`GenerationJob` is cheap to create (it only renders its manifest); its
:meth:`~GenerationJob.compute` builds the requests of its shard, asks the teacher's backend for
them in chunks (updating the progress bar), post-processes the texts and returns rows of
``TEACHER_OUTPUT_SCHEMA``. Its backend is lent by the :class:`BackendCache` it shares with the
other jobs of its node.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from llm_distillation.cleaning import CleaningRules, clean_text, is_empty_text
from llm_distillation.generation.types import DecodingConfig, GenerationRequest, GenerationResult
from llm_distillation.teacher.backend_cache import BackendCache, BackendSpec, sha256_json
from llm_distillation.teacher.backends.base import TeacherBackend
from llm_distillation.teacher.prompts import PromptBuilder
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA
from llm_distillation.teacher.sharding import SHARD_FORMAT_VERSION, ProgressCallback

logger = logging.getLogger(__name__)

REJECTION_MARKERS = ("context", "too long", "prompt_overflow", "exceeds")
"""An error result whose message names one of these is a rejected over-long prompt."""


def request_key(example_id: str, task: str, option_index: int) -> str:
    """``"<example_id>/<task>/<option_index>"`` — how results are matched to requests."""
    return f"{example_id}/{task}/{option_index}"


@dataclass
class GenerationJob:
    """One (teacher, task, shard) of one benchmark and split; see the module docstring."""

    teacher: str
    task: str
    shard: int
    benchmark: str
    split: str
    examples: list[dict[str, Any]]  # example rows of this shard, ordered by example_id
    builder: PromptBuilder
    backend: BackendSpec
    decoding: DecodingConfig
    chunk_size: int = 8
    rationales: Mapping[str, str] = field(default_factory=dict)  # example_id -> positive text
    critiques: Mapping[str, str] = field(default_factory=dict)  # example_id -> critique text
    cleaning: CleaningRules = field(default_factory=CleaningRules)
    """The one cleaning of teacher text (``params:cleaning``): ``text`` is what later prompts
    see and what consolidation stores."""
    counters: dict[str, Any] = field(default_factory=dict)
    backends: BackendCache = field(default_factory=BackendCache, repr=False, compare=False)
    """Shared by the jobs of one ``ShardJobs``; lends backends while it is open."""

    def __post_init__(self) -> None:
        self.size = sum(len(self.builder.options_for(self.task, r)) for r in self.examples)
        self.manifest = self._manifest()

    def _inputs(self) -> dict[str, Any]:
        """Fingerprint of what the prompts read: the examples and earlier tasks' texts."""
        fields = ("example_id", "question", "premise", "hypothesis", "choices", "answer_index")
        ids = [r["example_id"] for r in self.examples]
        out: dict[str, Any] = {
            "examples": sha256_json([{f: r.get(f) for f in fields} for r in self.examples])
        }
        if self.task in ("critique", "revision"):
            out["positive_rationale"] = sha256_json([self.rationales.get(i) for i in ids])
        if self.task == "revision":
            out["critique"] = sha256_json([self.critiques.get(i) for i in ids])
        return out

    def _manifest(self) -> dict[str, Any]:
        decoding = {
            "max_new_tokens": self.decoding.max_new_tokens,
            "do_sample": self.decoding.do_sample,
            "temperature": self.decoding.temperature,
            "top_p": self.decoding.top_p,
            "seed": self.decoding.seed,
            "extra": dict(self.decoding.extra),
        }
        return {
            "schema_version": SHARD_FORMAT_VERSION,
            "benchmark": self.benchmark,
            "split": self.split,
            "teacher": self.teacher,
            "task": self.task,
            "shard": self.shard,
            "backend": self.backend.describe(),
            "decoding": decoding,
            "prompt_template_sha256": self.builder.template_hash(self.task),
            "stop": list(self.builder.stop),
            "cleaning": self.cleaning.model_dump(mode="json"),
            "chunk_size": self.chunk_size,
            "example_ids": [r["example_id"] for r in self.examples],
            "inputs": self._inputs(),
        }

    # ------------------------------------------------------------------ compute
    def _requests(self) -> list[tuple[dict[str, Any], Any, GenerationRequest | None]]:
        """(example row, prompt, request) per output row; request ``None`` = input missing."""
        out = []
        for row in self.examples:
            eid = row["example_id"]
            rationale = self.rationales.get(eid) if self.task in ("critique", "revision") else None
            critique = self.critiques.get(eid) if self.task == "revision" else None
            missing = (self.task in ("critique", "revision") and rationale is None) or (
                self.task == "revision" and critique is None
            )
            for option in self.builder.options_for(self.task, row):
                if missing:
                    out.append((row, option, None))
                    continue
                prompt = self.builder.build(
                    self.task, row, option_index=option, rationale=rationale, critique=critique
                )
                request = GenerationRequest(
                    key=request_key(eid, self.task, option),
                    messages=prompt.messages,
                    prefix_messages=prompt.prefix_messages,
                    stop=self.builder.stop,
                )
                out.append((row, prompt, request))
        return out

    def compute(self, progress: ProgressCallback | None = None) -> pl.DataFrame:
        planned = self._requests()
        requests = [r for _, _, r in planned if r is not None]
        results: dict[str, GenerationResult] = {}
        backend = self.backends.get(self.backend) if requests else None
        missing_inputs = len(planned) - len(requests)
        if not self.size:
            progress = None
        if missing_inputs and progress:
            progress(missing_inputs, 0)
        for start in range(0, len(requests), self.chunk_size):
            chunk = requests[start : start + self.chunk_size]
            assert backend is not None
            got = backend.generate(chunk, self.decoding)
            if len(got) != len(chunk):
                raise RuntimeError(
                    f"backend {self.backend.name} returned {len(got)} results for {len(chunk)}"
                )
            for req, res in zip(chunk, got, strict=True):
                if res.key != req.key:
                    raise RuntimeError(f"backend returned result {res.key!r} for {req.key!r}")
                results[req.key] = res
            if progress:
                progress(len(chunk), sum(r.generated_tokens or 0 for r in got))
        if backend is not None:
            self.counters["backend_description"] = _safe_describe(backend)
        return self._rows(planned, results, missing_inputs)

    def _rows(
        self, planned: Sequence[tuple[dict[str, Any], Any, GenerationRequest | None]],
        results: Mapping[str, GenerationResult], missing_inputs: int,
    ) -> pl.DataFrame:  # fmt: skip
        rows = []
        rejections = 0
        errors: list[str] = []
        for row, prompt, request in planned:
            if request is None:
                option = prompt
                res = GenerationResult(
                    key=request_key(row["example_id"], self.task, option),
                    text="",
                    prompt_tokens=0,
                    generated_tokens=0,
                    finish_reason="error",
                    error="missing input: no positive rationale/critique for this example",
                )
                request_text = None
            else:
                option = prompt.option_index
                res = results[request.key]
                request_text = (
                    self.builder.request_pair(row["example_id"]).critique
                    if self.task in ("critique", "revision")
                    else None
                )
            if res.finish_reason == "error":
                message = res.error or ""
                if any(m in message.lower() for m in REJECTION_MARKERS):
                    rejections += 1
                if len(errors) < 5:
                    errors.append(f"{res.key}: {message}")
            rows.append(
                {
                    "example_id": row["example_id"],
                    "benchmark": self.benchmark,
                    "split": self.split,
                    "teacher": self.teacher,
                    "task": self.task,
                    "option_index": option,
                    "option": row["choices"][option],
                    "raw_text": res.text or "",
                    "prompt_tokens": res.prompt_tokens,
                    "generated_tokens": res.generated_tokens,
                    "finish_reason": res.finish_reason,
                    "prompt_truncated": bool(res.prompt_truncated),
                    "critique_request": request_text,
                }
            )
        self.counters["prompt_rejections"] = rejections
        self.counters["missing_inputs"] = missing_inputs
        self.counters["error_examples"] = errors
        if errors:
            logger.warning(
                "%s/%s shard %d: %d error row(s), e.g. %s",
                self.teacher, self.task, self.shard, len(errors), errors[0],
            )  # fmt: skip
        return output_table(rows, self.cleaning)

    def run_info(self) -> dict[str, Any]:
        """Extra accounting written into the shard's manifest file (not compared on resume)."""
        return {
            "prompt_rejections": self.counters.get("prompt_rejections", 0),
            "missing_inputs": self.counters.get("missing_inputs", 0),
            "error_examples": self.counters.get("error_examples", []),
            "backend_description": self.counters.get("backend_description"),
        }


def output_table(rows: Sequence[Mapping[str, Any]], cleaning: CleaningRules) -> pl.DataFrame:
    """Teacher-output rows (every column but ``text`` and ``is_empty``) -> the shard table:
    ``text`` is ``raw_text`` cleaned by the one cleaning of teacher text (exactly what
    consolidation stores), ``is_empty`` whether it has no word left. Raw text is kept."""
    raw_schema = {k: v for k, v in TEACHER_OUTPUT_SCHEMA.items() if k not in ("text", "is_empty")}
    frame = pl.DataFrame(list(rows), schema=raw_schema)
    return (
        frame.with_columns(text=clean_text(pl.col("raw_text"), cleaning).fill_null(""))
        .with_columns(is_empty=is_empty_text(pl.col("text")))
        .select(TEACHER_OUTPUT_SCHEMA.names())
    )


def _safe_describe(backend: TeacherBackend) -> Any:
    try:
        return json.loads(json.dumps(backend.describe(), default=str))
    except Exception as err:  # description is informative only
        return {"error": repr(err)}
