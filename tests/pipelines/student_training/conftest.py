"""Fixtures of the student_training tests: a tiny real teacher folder (SmolLM2 tokenizer)."""

from tests.pipelines.teacher_generation.conftest import tiny_teacher  # noqa: F401  (a fixture)
