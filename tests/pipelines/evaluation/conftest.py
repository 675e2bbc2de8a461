"""Fixtures shared with the evaluation framework tests."""

from tests.evaluation.conftest import (  # noqa: F401  (fixtures)
    cqa_test_table,
    esnli_ingest_test,
    strategyqa_two_teachers,
    tiny_students,
)
