"""Scripted shard jobs (no model): their output is a function of their ids and a setting.
Shared by the tests of the shard store and of ``TeacherShardsDataset``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from llm_distillation.teacher.records import TEACHER_OUTPUT_SCHEMA
from llm_distillation.teacher.sharding import shard_chunks


@dataclass
class ScriptedJob:
    """A shard job whose output is a function of its ids and a `setting`."""

    teacher: str
    task: str
    shard: int
    ids: list[str]
    setting: str = "a"
    fail: bool = False
    computed: list[int] = field(default_factory=list)

    @property
    def manifest(self) -> dict[str, Any]:
        return {"teacher": self.teacher, "task": self.task, "ids": self.ids, "s": self.setting}

    @property
    def size(self) -> int:
        return len(self.ids)

    def compute(self, progress=None) -> pl.DataFrame:
        if self.fail:
            raise RuntimeError("backend crashed")
        self.computed.append(self.shard)
        if progress:
            progress(len(self.ids), 3 * len(self.ids))
        return pl.DataFrame(
            [
                {
                    "example_id": i,
                    "benchmark": "cqa",
                    "split": "train",
                    "teacher": self.teacher,
                    "task": self.task,
                    "option_index": 0,
                    "option": "x",
                    "text": f"{self.setting}:{i}" if i != "e2" else "",
                    "raw_text": f"{self.setting}:{i}",
                    "prompt_tokens": 10,
                    "generated_tokens": 3,
                    "finish_reason": "length" if i == "e0" else "stop",
                    "is_empty": i == "e2",
                    "prompt_truncated": i == "e1",
                    "critique_request": None,
                }
                for i in self.ids
            ],
            schema=TEACHER_OUTPUT_SCHEMA,
        )


IDS = [f"e{i}" for i in range(5)]


def scripted_jobs(setting_by_shard=None, task="positive_rationale", teacher="t", size=2):
    """Jobs over ``IDS`` in shards of ``size``; shard ``k`` uses ``setting_by_shard[k]``."""
    setting_by_shard = setting_by_shard or {}
    return [
        ScriptedJob(teacher, task, i, ids, setting_by_shard.get(i, "a"))
        for i, ids in enumerate(shard_chunks(IDS, shard_size=size))
    ]
