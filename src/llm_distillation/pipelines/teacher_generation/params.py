"""Typed parameters of ``teacher_generation`` (``params:teacher_generation``).

Validated in the ``after_context_created`` hook, before any node runs: an unknown backend,
task, benchmark or split fails the run at once, naming the allowed values. The prompt
templates (``params:teacher_prompts``, :class:`~llm_distillation.teacher.prompts.PromptConfig`)
are validated by the first node, ``prepare_teacher_model``, before anything is converted or
loaded.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from llm_distillation.config import StrictModel, without_removed
from llm_distillation.errors import require_known
from llm_distillation.generation.types import DecodingConfig
from llm_distillation.schema import BENCHMARKS, SPLITS
from llm_distillation.teacher.backends.base import check_backend_name
from llm_distillation.teacher.prompts import PromptConfig
from llm_distillation.teacher.records import TASKS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class DecodingParams(StrictModel):
    """Decoding settings of one teacher (recorded in every shard manifest)."""

    max_new_tokens: int = Field(default=48, ge=1)
    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int = 0
    extra: dict[str, Any] = Field(default_factory=dict)

    def to_config(self) -> DecodingConfig:
        return DecodingConfig(**self.model_dump())


class ShardingParams(StrictModel):
    """Examples per shard, or a fixed number of shards (the study: 10)."""

    shard_size: int | None = Field(default=None, ge=1)
    num_shards: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> ShardingParams:
        if (self.shard_size is None) == (self.num_shards is None):
            raise ValueError("give exactly one of sharding.shard_size and sharding.num_shards")
        return self


class TeacherParams(StrictModel):
    """One teacher: a backend with its options, what it generates, and for which examples."""

    backend: str
    options: dict[str, Any] = Field(default_factory=dict)
    use_teacher_model: bool = False
    """Set ``options.model`` to the folder of the ``teacher_model`` catalog artefact."""
    decoding: DecodingParams = DecodingParams()
    tasks: list[str] = Field(default_factory=lambda: list(TASKS))
    benchmark_tasks: dict[str, list[str]] = Field(default_factory=dict)
    """Tasks for some benchmarks instead of ``tasks`` (e.g. a task one benchmark does not need)."""
    benchmarks: list[str] = Field(default_factory=lambda: list(BENCHMARKS))
    examples: dict[str, int | None] = Field(default_factory=dict)
    """Examples per split (seeded subsample); a split not listed, or ``null``: all of them."""
    chunk_size: int = Field(default=16, ge=1)
    """Requests handed to the backend per call (progress is updated after each call)."""
    sharding: ShardingParams | None = None
    """This teacher's sharding (default: ``teacher_generation.sharding``)."""
    cpu_threads: int | None = Field(default=None, ge=1)
    """Torch CPU threads for an in-process model (``torch.set_num_threads``; ``null``: torch's
    default). On a shared or busy machine 1 avoids thread oversubscription, which can make
    CPU decoding several times slower. Recorded in the manifests (it can change the floats)."""

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        check_backend_name(value)
        return value

    @field_validator("tasks", "benchmarks")
    @classmethod
    def _known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        allowed, what = (TASKS, "teacher tasks") if info.field_name == "tasks" else (
            BENCHMARKS, "benchmarks")  # fmt: skip
        require_known(value, allowed, what)
        return value

    @field_validator("benchmark_tasks")
    @classmethod
    def _benchmark_tasks(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        require_known(value, BENCHMARKS, "benchmarks", field="benchmark_tasks")
        for tasks in value.values():
            require_known(tasks, TASKS, "teacher tasks", field="benchmark_tasks")
        return value

    @field_validator("examples")
    @classmethod
    def _examples(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        require_known(value, SPLITS, "splits")
        if any(n is not None and n < 0 for n in value.values()):
            raise ValueError("example counts must be >= 0 (or null for all)")
        return value

    @model_validator(mode="after")
    def _dependencies(self) -> TeacherParams:
        for benchmark in self.benchmarks:
            tasks = self.tasks_for(benchmark)
            where = f" ({benchmark})" if benchmark in self.benchmark_tasks else ""
            if "critique" in tasks and "positive_rationale" not in tasks:
                raise ValueError(f"the critique task needs the positive_rationale task{where}")
            if "revision" in tasks and "critique" not in tasks:
                raise ValueError(f"the revision task needs the critique task{where}")
        secret = sorted({"api_key", "token", "password"} & set(self.options))
        if secret:
            raise ValueError(
                f"options {secret} would be written into shard manifests; put the key in "
                "conf/local/credentials.yml (`openai: {api_key: …}`) or the OPENAI_API_KEY "
                "environment variable"
            )
        if self.use_teacher_model and "model" in self.options:
            raise ValueError("give either options.model or use_teacher_model, not both")
        needs_model = self.backend == "transformers" and not self.use_teacher_model
        if needs_model and "model" not in self.options:
            raise ValueError("the transformers backend needs options.model or use_teacher_model")
        return self

    def tasks_for(self, benchmark: str) -> list[str]:
        """The tasks this teacher runs on ``benchmark``."""
        return self.benchmark_tasks.get(benchmark, self.tasks)


class TeacherGenerationParams(StrictModel):
    """``params:teacher_generation``."""

    seed: int = 0
    """Seeds the example subsample and the prompts' random choices (adjectives, requests)."""
    sharding: ShardingParams = ShardingParams(shard_size=2)
    teachers: dict[str, TeacherParams] = Field(min_length=1)
    """An entry set to null (in ``conf/<env>``) removes the base's teacher of that name."""

    _removed = field_validator("teachers", mode="before")(without_removed)

    @field_validator("teachers")
    @classmethod
    def _names(cls, value: dict[str, TeacherParams]) -> dict[str, TeacherParams]:
        bad = [n for n in value if not _NAME.match(n)]
        if bad:
            raise ValueError(f"teacher names {bad} must be folder-safe ([A-Za-z0-9_.-])")
        return value

    def check_prompts(self, prompts: PromptConfig) -> None:
        """Every teacher's benchmarks have prompts."""
        for name, teacher in self.teachers.items():
            missing = [b for b in teacher.benchmarks if b not in prompts.benchmarks]
            if missing:
                raise ValueError(f"teacher {name}: no prompts configured for {missing}")


def validate(params: Any, prompts: Any) -> tuple[TeacherGenerationParams, PromptConfig]:
    """Both parameter blocks, validated (``teacher_generation`` and ``teacher_prompts``)."""
    cfg = TeacherGenerationParams.model_validate(params)
    prompt_cfg = (
        prompts if isinstance(prompts, PromptConfig) else PromptConfig.model_validate(prompts)
    )
    cfg.check_prompts(prompt_cfg)
    return cfg, prompt_cfg


PARAMETERS = TeacherGenerationParams
