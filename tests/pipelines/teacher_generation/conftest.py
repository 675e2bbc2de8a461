"""Fixtures of the teacher_generation tests: ingested examples, a tiny real model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ...kedro_session import run_pipelines


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, shared_data) -> Path:
    """A data folder holding the ingest outputs of the real samples (no teacher outputs)."""
    root = tmp_path_factory.mktemp("ingested")
    run_pipelines(["ingest"], root, params={"shared_data_dir": str(shared_data)})
    return root


@pytest.fixture
def created_backends(monkeypatch) -> list:
    """Every teacher backend the run creates, in order (to check that none was, or that each
    was closed when its save ended)."""
    from llm_distillation.teacher import backend_cache

    created: list = []
    real = backend_cache.create_backend

    def recording(name: str, **options):
        backend = real(name, **options)
        created.append(backend)
        return backend

    monkeypatch.setattr(backend_cache, "create_backend", recording)
    return created


def copy_ingested(ingested: Path, target: Path) -> Path:
    """A fresh data folder with the same ingested examples."""
    for layer in ("02_intermediate", "03_primary"):
        shutil.copytree(ingested / layer, target / layer)
    return target


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """A 1.6M-parameter random-init Llama with the SmolLM2 tokenizer (and chat template) read
    from the packaged GGUF: real transformers decoding, seconds per shard on a CPU."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from llm_distillation.teacher.model_artifacts import find_smollm2_gguf

    out = tmp_path_factory.mktemp("tiny_teacher")
    gguf = find_smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
