"""Few-shot chat prompts of the four teacher tasks, rendered from configuration.

Every prompt is conditioned on an answer (the gold answer, or answer option *i* for the
counterfactual rationales) as in the study. A prompt is a chat: the system message and the
demos (user/assistant turns) form ``prefix_messages`` — identical for every example of a
(benchmark, task), so a backend can cache them — and the target item is the last user turn.

Random choices (the two quality adjectives of the target header, the critique/revision request
pair) are drawn from a generator seeded by ``(seed, benchmark, example_id, task, option)``, so
the same configuration always renders the same prompt whatever the order or sharding of
examples. Demo adjectives and demo request pairs are fixed per demo, which keeps the prefix
constant.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import Field, model_validator

from llm_distillation.config import StrictModel
from llm_distillation.errors import require_known
from llm_distillation.rendering import RENDERING_VERSION, task_text
from llm_distillation.schema import BENCHMARKS
from llm_distillation.teacher.records import TASKS

RATIONALE_TASKS: Final = ("positive_rationale", "negative_rationale", "counterfactual_rationale")
"""Tasks rendered with the rationale turn (they differ in adjectives, demos and answer)."""


class Demo(StrictModel):
    """One worked example. ``critique``/``revision`` are needed only by demos those tasks show."""

    question: str | None = None
    premise: str | None = None
    hypothesis: str | None = None
    choices: list[str] = Field(min_length=2)
    answer: str
    rationale: str
    poor_rationale: str
    critique: str | None = None
    revision: str | None = None

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> Demo:
        if self.answer not in self.choices:
            raise ValueError(f"demo answer {self.answer!r} is not one of {self.choices}")
        return self


class BenchmarkPrompts(StrictModel):
    task_name: str
    demos: list[Demo] = Field(min_length=1)


class RequestPair(StrictModel):
    critique: str
    revision: str


class Adjectives(StrictModel):
    positive: list[str] = Field(min_length=2)
    negative: list[str] = Field(min_length=2)


class Systems(StrictModel):
    rationale: str
    critique: str
    revision: str


class Turns(StrictModel):
    rationale: str
    critique: str
    revision: str


class PromptConfig(StrictModel):
    """``params:teacher_prompts`` — templates and demos of every benchmark."""

    version: int = 1
    systems: Systems
    turns: Turns
    demo_headers: list[str] = Field(default_factory=list)
    stop: list[str] = Field(default_factory=list)
    adjectives: Adjectives
    request_pairs: list[RequestPair] = Field(min_length=1)
    demos_per_task: dict[str, int]
    benchmarks: dict[str, BenchmarkPrompts]

    @model_validator(mode="after")
    def _consistent(self) -> PromptConfig:
        require_known(self.benchmarks, BENCHMARKS, "benchmarks")
        require_known(self.demos_per_task, TASKS, "tasks", field="demos_per_task")
        for name, bench in self.benchmarks.items():
            for task, k in self.demos_per_task.items():
                if k > len(bench.demos):
                    raise ValueError(f"{name}: {task} shows {k} demos but only {len(bench.demos)}")
                need = {"critique": ("critique",), "revision": ("critique", "revision")}
                for i, demo in enumerate(bench.demos[:k]):
                    missing = [f for f in need.get(task, ()) if getattr(demo, f) is None]
                    if missing:
                        raise ValueError(f"{name} demo {i} lacks {missing}, needed by {task}")
        return self


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt: the cacheable shared part and the target turn(s)."""

    prefix_messages: tuple[dict[str, str], ...]
    messages: tuple[dict[str, str], ...]
    answer: str
    option_index: int
    request: str | None = None

    @property
    def chat(self) -> tuple[dict[str, str], ...]:
        """The whole conversation, prefix first."""
        return self.prefix_messages + self.messages


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _sha256(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class PromptBuilder:
    """Renders the prompts of one benchmark from a :class:`PromptConfig`."""

    def __init__(self, config: PromptConfig | Mapping[str, Any], benchmark: str, seed: int = 0):
        self.config = (
            config if isinstance(config, PromptConfig) else PromptConfig.model_validate(config)
        )
        if benchmark not in self.config.benchmarks:
            raise ValueError(
                f"no prompts configured for benchmark {benchmark!r}; "
                f"configured: {sorted(self.config.benchmarks)}"
            )
        self.benchmark = benchmark
        self.bench = self.config.benchmarks[benchmark]
        self.seed = seed
        self._prefix_cache: dict[str, tuple[dict[str, str], ...]] = {}

    # ------------------------------------------------------------------ pieces
    def render_item(self, row: Mapping[str, Any]) -> str:
        """The example's task text (:mod:`llm_distillation.rendering`, shared with training
        views and evaluation prompts)."""
        return task_text(row)

    def _adjectives(self, task: str, *key: object) -> tuple[str, str]:
        pool = self.config.adjectives.negative if task == "negative_rationale" else None
        pool = pool or self.config.adjectives.positive
        a, b = _rng(self.seed, self.benchmark, task, *key).sample(pool, 2)
        return a, b

    def request_pair(self, example_id: str) -> RequestPair:
        """The critique/revision request pair drawn for ``example_id`` (same for both tasks)."""
        pairs = self.config.request_pairs
        return pairs[_rng(self.seed, self.benchmark, example_id, "request").randrange(len(pairs))]

    def _system(self, task: str) -> dict[str, str]:
        kind = "rationale" if task in RATIONALE_TASKS else task
        text = getattr(self.config.systems, kind).format(task_name=self.bench.task_name)
        return {"role": "system", "content": text}

    def _turn(self, task: str, item: str, answer: str, **extra: str) -> str:
        kind = "rationale" if task in RATIONALE_TASKS else task
        return getattr(self.config.turns, kind).format(item=item, answer=answer, **extra)

    def prefix(self, task: str) -> tuple[dict[str, str], ...]:
        """System message and demo turns of ``task`` (constant across examples)."""
        if task not in TASKS:
            raise ValueError(f"unknown teacher task {task!r}; allowed: {list(TASKS)}")
        if task in self._prefix_cache:
            return self._prefix_cache[task]
        k = self.config.demos_per_task.get(task, 0)
        messages: list[dict[str, str]] = [self._system(task)]
        pairs = self.config.request_pairs
        for i, demo in enumerate(self.bench.demos[:k]):
            row = demo.model_dump()
            item = self.render_item(row)
            pair = pairs[i % len(pairs)]
            if task in RATIONALE_TASKS:
                adj1, adj2 = self._adjectives(task, "demo", i)
                user = self._turn(task, item, demo.answer, adjective_1=adj1, adjective_2=adj2)
                reply = demo.poor_rationale if task == "negative_rationale" else demo.rationale
            elif task == "critique":
                user = self._turn(
                    task, item, demo.answer, rationale=demo.rationale,
                    critique_request=pair.critique,
                )  # fmt: skip
                reply = demo.critique or ""
            else:
                user = self._turn(
                    task, item, demo.answer, rationale=demo.rationale,
                    critique_request=pair.critique, critique=demo.critique or "",
                    revision_request=pair.revision,
                )  # fmt: skip
                reply = demo.revision or ""
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        self._prefix_cache[task] = tuple(messages)
        return self._prefix_cache[task]

    def template_hash(self, task: str) -> str:
        """sha256 of everything that shapes ``task``'s prompts: rendered prefix and templates."""
        cfg = self.config
        kind = "rationale" if task in RATIONALE_TASKS else task
        return _sha256(
            {
                "version": cfg.version,
                "benchmark": self.benchmark,
                "task": task,
                "prefix": list(self.prefix(task)),
                "turn": getattr(cfg.turns, kind),
                "item": RENDERING_VERSION,
                "adjectives": cfg.adjectives.model_dump() if kind == "rationale" else None,
                "request_pairs": (
                    [p.model_dump() for p in cfg.request_pairs] if kind != "rationale" else None
                ),
                "seed": self.seed,
            }
        )

    # ------------------------------------------------------------------ prompts
    def build(
        self,
        task: str,
        row: Mapping[str, Any],
        *,
        option_index: int | None = None,
        rationale: str | None = None,
        critique: str | None = None,
    ) -> Prompt:
        """The prompt of ``task`` for example ``row`` (a dict with the example schema).

        ``option_index`` picks the answer of a counterfactual rationale (default: the gold
        answer). Critique needs the positive ``rationale``; revision needs it and ``critique``.
        """
        prefix = self.prefix(task)
        choices: Sequence[str] = row["choices"]
        index = int(row["answer_index"]) if option_index is None else option_index
        if not 0 <= index < len(choices):
            raise ValueError(f"option {index} out of range for {len(choices)} choices")
        answer = choices[index]
        item = self.render_item(row)
        example_id = row["example_id"]
        request = None
        if task in RATIONALE_TASKS:
            adj1, adj2 = self._adjectives(task, example_id, index)
            user = self._turn(task, item, answer, adjective_1=adj1, adjective_2=adj2)
        elif task == "critique":
            if rationale is None:
                raise ValueError("a critique prompt needs the positive rationale")
            pair = self.request_pair(example_id)
            request = pair.critique
            user = self._turn(task, item, answer, rationale=rationale, critique_request=request)
        else:
            if rationale is None or critique is None:
                raise ValueError("a revision prompt needs the positive rationale and the critique")
            pair = self.request_pair(example_id)
            request = pair.revision
            user = self._turn(
                task, item, answer, rationale=rationale, critique_request=pair.critique,
                critique=critique, revision_request=pair.revision,
            )  # fmt: skip
        return Prompt(
            prefix_messages=prefix,
            messages=({"role": "user", "content": user},),
            answer=answer,
            option_index=index,
            request=request,
        )

    def options_for(self, task: str, row: Mapping[str, Any]) -> list[int]:
        """Answer options a task is run for: every option for counterfactuals, else the gold."""
        if task == "counterfactual_rationale":
            return list(range(len(row["choices"])))
        return [int(row["answer_index"])]

    @property
    def stop(self) -> tuple[str, ...]:
        return tuple(self.config.stop)

    @property
    def demo_headers(self) -> tuple[str, ...]:
        return tuple(self.config.demo_headers)
