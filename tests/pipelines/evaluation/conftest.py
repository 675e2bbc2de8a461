"""Fixtures shared with the evaluation framework tests."""

from tests.evaluation.conftest import cqa_test_table, tiny_students  # noqa: F401  (fixtures)
