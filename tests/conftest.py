"""Shared test fixtures: the real sample data beside the checkout, offline settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout, or ``$LLM_DISTILLATION_SHARED_DATA``."""
    env = os.environ.get("LLM_DISTILLATION_SHARED_DATA")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "cqa").is_dir():
        pytest.fail(
            f"the real sample data is not at {path}; set LLM_DISTILLATION_SHARED_DATA "
            "to the folder described in ../shared/data/README.md"
        )
    return path


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
