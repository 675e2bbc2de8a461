"""HFModelFolderDataset: a model folder converted once, atomically, from an HF folder (a tiny
random Llama, fast) or from the packaged SmolLM2 GGUF (slow)."""

from __future__ import annotations

import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.kedro_datasets.hf_model import HFModelFolderDataset

pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_distillation.teacher.backends.transformers_backend import (
    TransformersBackend,
)
from tests.generation.tiny_models import CHATML, build_tiny_llama


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny_chat"), chat_template=CHATML))


def test_model_folder_dataset_converts_once_atomically(tiny_model, tmp_path):
    from llm_distillation.teacher.model_artifacts import CONVERSION_MARKER

    folder = tmp_path / "06_models" / "teacher"
    dataset = HFModelFolderDataset(path=str(folder))
    assert not dataset.exists()
    assert dataset.load() is None
    dataset.save({})  # no teacher uses the artefact: nothing is made
    assert not folder.exists()
    dataset.save({"hf_path": tiny_model})
    assert dataset.exists() and dataset.load() == str(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert [p.name for p in folder.parent.iterdir()] == ["teacher"]  # no temp dir left
    marker = (folder / CONVERSION_MARKER).stat().st_mtime_ns
    HFModelFolderDataset(path=str(folder)).save(tiny_model)  # same source: skipped
    assert (folder / CONVERSION_MARKER).stat().st_mtime_ns == marker
    assert dataset._describe()["source"]["kind"] == "hf_folder"
    request = GenerationRequest(key="k", messages=({"role": "user", "content": "Question: x"},))
    decoding = DecodingConfig(max_new_tokens=5)
    converted, original = (
        TransformersBackend(model, device="cpu").generate([request], decoding)[0].text
        for model in (dataset.load(), tiny_model)
    )
    assert converted == original


@pytest.mark.slow
def test_model_folder_dataset_recognises_the_packaged_gguf(tmp_path):
    """Saving the packaged GGUF into a folder that already holds its conversion does nothing."""
    from llm_distillation.teacher.model_artifacts import (
        CONVERSION_MARKER,
        ensure_default_teacher,
        find_smollm2_gguf,
    )

    folder = ensure_default_teacher(tmp_path / "smollm2-135m-instruct")
    before = (folder / CONVERSION_MARKER).stat().st_mtime_ns
    dataset = HFModelFolderDataset(path=str(folder))
    dataset.save({"gguf_path": str(find_smollm2_gguf())})
    assert (folder / CONVERSION_MARKER).stat().st_mtime_ns == before
    assert dataset.load() == str(folder)
