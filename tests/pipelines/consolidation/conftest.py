"""Fixtures shared with the consolidation framework tests."""

from tests.consolidation.conftest import study_slices  # noqa: F401  (a fixture)
