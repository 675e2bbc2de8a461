"""Lazy shard jobs of the teacher tasks: prompts -> backend -> post-processed rows.

A :class:`GenerationJob` is cheap to create (it only renders its manifest); its
:meth:`~GenerationJob.compute` builds the requests of its shard, asks the teacher's backend for
them in chunks (updating the progress bar), post-processes the texts and returns rows of
``TEACHER_OUTPUT_SCHEMA``. The jobs of one node share a :class:`BackendCache`: a backend is
created by the first shard that needs it (never when every shard is complete) and closed when
the save of those jobs ends (``ShardJobs`` is the context manager the dataset's save opens).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from llm_distillation.generation.engine import torch_threads
from llm_distillation.generation.types import DecodingConfig, GenerationRequest, GenerationResult
from llm_distillation.teacher.backends.base import TeacherBackend, create_backend
from llm_distillation.teacher.postprocess import clean
from llm_distillation.teacher.prompts import PromptBuilder
from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA
from llm_distillation.teacher.sharding import SHARD_FORMAT_VERSION, ProgressCallback, shard_chunks

logger = logging.getLogger(__name__)

REJECTION_MARKERS = ("context", "too long", "prompt_overflow", "exceeds")
"""An error result whose message names one of these is a rejected over-long prompt."""


def _sha256(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class BackendSpec:
    """Which backend a teacher uses, with its options (already resolved, e.g. model path)."""

    name: str
    options: Mapping[str, Any]
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    cpu_threads: int | None = None
    objects: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """Constructor arguments that are data, not settings (the examples a replay aligns to);
    their identity is in ``fingerprint``."""

    @property
    def key(self) -> str:
        return _sha256(
            {
                "name": self.name,
                "options": dict(self.options),
                "threads": self.cpu_threads,
                "fingerprint": dict(self.fingerprint),
            }
        )

    def describe(self) -> dict[str, Any]:
        """The manifest's view of the backend (no instance needed). A converted model folder is
        identified by its source fingerprint, not its path, so moving the data folder does not
        redo its shards."""
        options = dict(self.options)
        if self.fingerprint and "model" in options:
            options["model"] = "teacher_model artefact (see model_fingerprint)"
        return {
            "backend": self.name,
            "options": json.loads(json.dumps(options, default=str)),
            "model_fingerprint": dict(self.fingerprint) or None,
            "cpu_threads": self.cpu_threads,
        }


class BackendCache:
    """The backends of one save of shard jobs: each created when the first job needs it, all
    closed when the save ends (models freed, GPU memory released, torch's thread count of a
    spec with ``cpu_threads`` restored), so a GPU teacher does not hold the GPU after teacher
    generation. Backends are lent only inside ``with cache:`` (``run_jobs`` opens it around
    the jobs it computes); a save whose shards are all complete creates none.
    """

    def __init__(self) -> None:
        self._backends: dict[str, TeacherBackend] = {}
        self._open = False
        self._exit = contextlib.ExitStack()
        self.created = 0  # backends created so far (over every opening)

    def __enter__(self) -> BackendCache:
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, spec: BackendSpec, secrets: Mapping[str, Any] | None = None) -> TeacherBackend:
        """The backend of ``spec``; ``secrets`` (an API key) are added to its options when it is
        created and are not part of its identity or of any manifest."""
        if not self._open:
            raise RuntimeError("teacher backends are lent only inside `with BackendCache():`")
        backend = self._backends.get(spec.key)
        if backend is None:
            logger.info("Creating teacher backend %s %s", spec.name, dict(spec.options))
            self._exit.enter_context(torch_threads(spec.cpu_threads))
            options = {**spec.options, **spec.objects}
            if spec.name == "openai_compatible" and secrets and "api_key" in secrets:
                options.setdefault("api_key", secrets["api_key"])
            backend = self._backends[spec.key] = create_backend(spec.name, **options)
            self.created += 1
        return backend

    def close(self) -> None:
        """Close every backend and restore the thread count; the cache can be opened again."""
        backends, self._backends, self._open = list(self._backends.values()), {}, False
        for backend in backends:
            try:
                backend.close()
            except Exception:  # closing must not hide the run's own outcome
                logger.exception("closing teacher backend %s failed", backend)
        self._exit.close()


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
    counters: dict[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)
    backends: BackendCache = field(default_factory=BackendCache, repr=False, compare=False)
    """Shared by the jobs of one ``ShardJobs``; lends backends while it is open."""

    def __post_init__(self) -> None:
        # replayed texts take no time: they do not count in the progress bar (nor its ETA)
        self.size = (
            0
            if self.backend.name == "replay"
            else sum(len(self.builder.options_for(self.task, r)) for r in self.examples)
        )
        self.manifest = self._manifest()

    def _inputs(self) -> dict[str, Any]:
        """Fingerprint of what the prompts read: the examples and earlier tasks' texts."""
        fields = ("example_id", "question", "premise", "hypothesis", "choices", "answer_index")
        ids = [r["example_id"] for r in self.examples]
        out: dict[str, Any] = {
            "examples": _sha256([{f: r.get(f) for f in fields} for r in self.examples])
        }
        if self.task in ("critique", "revision"):
            out["positive_rationale"] = _sha256([self.rationales.get(i) for i in ids])
        if self.task == "revision":
            out["critique"] = _sha256([self.critiques.get(i) for i in ids])
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
        backend = self.backends.get(self.backend, self.secrets) if requests else None
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
                progress(len(chunk), sum(max(r.generated_tokens, 0) for r in got))
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
                    if self.task in ("critique", "revision") and self.backend.name != "replay"
                    else None  # a replayed text was not made from our request
                )
            if res.finish_reason == "error":
                message = res.error or ""
                if any(m in message.lower() for m in REJECTION_MARKERS):
                    rejections += 1
                if len(errors) < 5:
                    errors.append(f"{res.key}: {message}")
            cleaned = clean(res.text, stop=self.builder.stop, headers=self.builder.demo_headers)
            rows.append(
                {
                    "example_id": row["example_id"],
                    "benchmark": self.benchmark,
                    "split": self.split,
                    "teacher": self.teacher,
                    "task": self.task,
                    "option_index": option,
                    "option": row["choices"][option],
                    "text": cleaned.text,
                    "raw_text": cleaned.raw_text,
                    "prompt_tokens": res.prompt_tokens,
                    "generated_tokens": res.generated_tokens,
                    "finish_reason": res.finish_reason,
                    "is_empty": cleaned.is_empty,
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
        if not rows:
            return pl.DataFrame(schema=TEACHER_OUTPUT_SCHEMA)
        return pl.DataFrame(rows, schema=TEACHER_OUTPUT_SCHEMA)

    def run_info(self) -> dict[str, Any]:
        """Extra accounting written into the shard's manifest file (not compared on resume)."""
        return {
            "prompt_rejections": self.counters.get("prompt_rejections", 0),
            "missing_inputs": self.counters.get("missing_inputs", 0),
            "error_examples": self.counters.get("error_examples", []),
            "backend_description": self.counters.get("backend_description"),
        }


def _safe_describe(backend: TeacherBackend) -> Any:
    try:
        return json.loads(json.dumps(backend.describe(), default=str))
    except Exception as err:  # description is informative only
        return {"error": repr(err)}


@dataclass
class ShardJobs:
    """The lazy jobs one node hands to a ``TeacherShardsDataset``, and the context their
    backends live in: ``with jobs:`` lends them (:class:`BackendCache`), leaving closes them."""

    jobs: list[GenerationJob]
    description: str = "teacher generation"
    backends: BackendCache = field(default_factory=BackendCache, repr=False)

    def __enter__(self) -> ShardJobs:
        self.backends.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.backends.close()

    def __iter__(self):
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


# ---------------------------------------------------------------------- building the jobs
def select_examples(examples: pl.DataFrame, n: int | None, *, seed: int) -> list[dict[str, Any]]:
    """The examples a teacher covers: a seeded subsample of ``n`` (all when ``None``),
    ordered by ``example_id``."""
    from llm_distillation.sampling import take_seeded

    kept, _ = take_seeded(examples, n=n, seed=seed) if n is not None else (examples, None)
    if n == 0:
        kept = examples.clear()
    return kept.sort("example_id").to_dicts()


def texts_by_example(
    outputs: pl.LazyFrame | pl.DataFrame | None, teacher: str, task: str
) -> dict[str, str]:
    """``example_id -> text`` of one teacher's ``task`` rows (gold option rows only)."""
    if outputs is None:
        return {}
    frame = outputs.lazy() if isinstance(outputs, pl.DataFrame) else outputs
    rows = (
        frame.filter((pl.col("teacher") == teacher) & (pl.col("task") == task))
        .select("example_id", "text")
        .collect()
    )
    return dict(zip(rows["example_id"].to_list(), rows["text"].to_list(), strict=True))


def backend_spec(
    name: str, backend: str, options: Mapping[str, Any], *, benchmark: str,
    teacher_model: str | None, cpu_threads: int | None = None,
    examples: pl.DataFrame | None = None,
) -> BackendSpec:  # fmt: skip
    """The resolved backend of teacher ``name`` for ``benchmark``.

    ``teacher_model`` (a converted model folder) becomes ``options.model``; the replay backend
    gets the benchmark, and for the benchmarks listed in its ``align_by_text`` option the
    ``examples`` to re-key its rows to (by text and gold answer: the study's StrategyQA ids
    differ from the published files' ids).
    """
    from llm_distillation.teacher.model_artifacts import read_conversion_marker

    resolved = dict(options)
    fingerprint: dict[str, Any] = {}
    if teacher_model is not None:
        resolved["model"] = str(teacher_model)
        marker = read_conversion_marker(teacher_model)
        fingerprint = dict((marker or {}).get("source") or {})
    objects: dict[str, Any] = {}
    if backend == "replay":
        resolved.setdefault("benchmark", benchmark)
        if benchmark in (resolved.pop("align_by_text", None) or ()) and examples is not None:
            objects["align_to"] = examples
            fingerprint["align_to"] = _sha256(sorted(examples["example_id"].to_list()))
    return BackendSpec(
        name=backend,
        options=resolved,
        fingerprint=fingerprint,
        cpu_threads=cpu_threads,
        objects=objects,
    )


def build_jobs(
    examples: pl.DataFrame,
    params: Any,
    prompts: Any,
    *,
    tasks: Sequence[str],
    teacher_model: Any = None,
    rationales: pl.LazyFrame | None = None,
    critiques: pl.LazyFrame | None = None,
) -> ShardJobs:
    """Lazy jobs of ``tasks`` for every configured teacher and shard of ``examples``.

    ``params`` is a validated ``TeacherGenerationParams``, ``prompts`` a ``PromptConfig``.
    Critique jobs read the positive rationales from ``rationales``; revision jobs read them and
    the critiques.
    """
    if examples.is_empty():
        return ShardJobs([], "teacher generation (no examples)")
    benchmark = examples["benchmark"][0]
    split = examples["split"][0]
    jobs: list[GenerationJob] = []
    backends = BackendCache()
    for name, teacher in params.teachers.items():
        wanted = [t for t in tasks if t in teacher.tasks_for(benchmark)]
        if benchmark not in teacher.benchmarks or not wanted:
            continue
        selected = select_examples(examples, teacher.examples.get(split), seed=params.seed)
        if not selected:
            continue
        by_id = {r["example_id"]: r for r in selected}
        sharding = teacher.sharding or params.sharding
        chunks = shard_chunks(by_id, shard_size=sharding.shard_size, num_shards=sharding.num_shards)
        model_dir = None
        if teacher.use_teacher_model:
            model_dir = _model_folder(teacher_model)
        spec = backend_spec(
            name,
            teacher.backend,
            teacher.options,
            benchmark=benchmark,
            teacher_model=model_dir,
            cpu_threads=teacher.cpu_threads,
            examples=examples,
        )
        builder = PromptBuilder(prompts, benchmark, seed=params.seed)
        positive = texts_by_example(rationales, name, "positive_rationale")
        critique = texts_by_example(critiques, name, "critique")
        for task in wanted:
            for index, ids in enumerate(chunks):
                job_rationales = positive
                job_critiques = critique
                if not teacher.needs_inputs:  # replayed texts do not depend on the prompt
                    job_rationales = {i: positive.get(i, "") for i in ids}
                    job_critiques = {i: critique.get(i, "") for i in ids}
                jobs.append(
                    GenerationJob(
                        teacher=name,
                        task=task,
                        shard=index,
                        benchmark=benchmark,
                        split=split,
                        examples=[by_id[i] for i in ids],
                        builder=builder,
                        backend=spec,
                        decoding=teacher.decoding.to_config(),
                        chunk_size=teacher.chunk_size,
                        rationales={i: job_rationales[i] for i in ids if i in job_rationales},
                        critiques={i: job_critiques[i] for i in ids if i in job_critiques},
                        backends=backends,
                    )
                )
    return ShardJobs(jobs, f"{benchmark}/{split} {'+'.join(tasks)}", backends)


def _model_folder(teacher_model: Any) -> str:
    """The folder path a ``teacher_model`` catalog artefact loads as."""
    if isinstance(teacher_model, Mapping):
        for key in ("path", "model_dir", "folder"):
            if key in teacher_model:
                return str(teacher_model[key])
        raise ValueError(
            f"cannot find the model folder in the teacher_model artefact {teacher_model}"
        )
    if teacher_model is None:
        raise ValueError("a teacher with use_teacher_model needs the teacher_model artefact")
    return str(teacher_model)
