"""StudentModelDataset (save/load/_exists/preview, versions, no pickles) and the checkpoint
store of a cell."""

from __future__ import annotations

import json

import numpy as np
import pytest
from kedro.io import DatasetError, Version
from safetensors.numpy import save_file

from llm_distillation.kedro_datasets import (
    StudentModelDataset,
    TrainingCheckpointsDataset,
    TrainingCurvesDataset,
)
from llm_distillation.kedro_datasets.student_model import SUMMARY_FILE, CheckpointStore


def _student_folder(path, seed, accuracy=0.5, weights=(4, 4)):
    path.mkdir(parents=True)
    save_file({"w": np.zeros(weights, dtype=np.float32)}, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    (path / "tokenizer.json").write_text("{}")
    summary = {
        "cell": "cqa_tiny_standard",
        "benchmark": "cqa",
        "student": "tiny",
        "condition": "standard",
        "seed": seed,
        "architecture": "T5ForConditionalGeneration",
        "parameters": 16,
        "steps": 4,
        "best_step": 2,
        "best_dev": {"accuracy": accuracy, "loss": 1.25},
        "settings": {
            "student": {"kind": "t5_config", "d_model": 16, "tokenizer": None},
            "condition": {"mode": "standard", "rationale": "unrevised", "alpha": 0.5},
            "training": {"max_steps": 4, "learning_rate": 0.001, "seed": 3},
        },
    }
    (path / SUMMARY_FILE).write_text(json.dumps(summary))
    return path


def _dataset(tmp_path, load=None):
    return StudentModelDataset(
        filepath=str(tmp_path / "students" / "cqa_tiny_standard"), version=Version(load, None)
    )


def test_save_load_exists_and_versions(tmp_path):
    first = {s: _student_folder(tmp_path / "run1" / f"s{s}", s) for s in (0, 1)}
    ds = _dataset(tmp_path)
    assert not ds.exists()
    ds.save(first)
    assert ds.exists()
    loaded = ds.load()
    assert sorted(loaded) == [0, 1]
    for seed, student in loaded.items():
        assert str(student.folder).endswith(f"cqa_tiny_standard/seed_{seed}")
        assert json.loads((student.folder / SUMMARY_FILE).read_text())["seed"] == seed
        assert student.summary["seed"] == seed  # checked and read by the load
    versions = sorted((tmp_path / "students" / "cqa_tiny_standard").iterdir())
    assert len(versions) == 1
    manifest = json.loads((versions[0] / "cqa_tiny_standard" / "cell.json").read_text())
    assert manifest["seeds"] == [0, 1]
    assert manifest["condition"] == "standard"

    _dataset(tmp_path).save({0: _student_folder(tmp_path / "run2" / "s0", 0, accuracy=0.75)})
    assert sorted(_dataset(tmp_path).load()) == [0]  # the latest version
    older = _dataset(tmp_path, load=versions[0].name)
    assert sorted(older.load()) == [0, 1]
    assert "cqa_tiny_standard" in str(_dataset(tmp_path)._describe()["filepath"])


def test_a_local_save_links_the_finished_files_instead_of_copying(tmp_path):
    import os

    finished = _student_folder(tmp_path / "run" / "final", 0)
    ds = _dataset(tmp_path)
    ds.save({0: finished})
    saved = ds.load()[0].folder / "model.safetensors"
    assert os.path.samefile(saved, finished / "model.safetensors")  # one copy on disk
    assert not list((tmp_path / "students" / "cqa_tiny_standard").glob(".partial-*"))
    import shutil

    shutil.rmtree(finished)  # the store drops a stale run: the catalog's version stays whole
    assert _dataset(tmp_path).load()[0] and saved.stat().st_size > 0


def test_preview_shows_size_config_and_best_dev_score(tmp_path):
    ds = _dataset(tmp_path)
    one_mib = (512, 512)  # float32: 1 MiB of weights, the other files a few hundred bytes
    ds.save({3: _student_folder(tmp_path / "run" / "s3", 3, accuracy=0.625, weights=one_mib)})
    preview = ds.preview()
    row = dict(zip(preview["columns"], preview["data"][0], strict=True))
    assert row["seed"] == 3
    assert row["size_mb"] == 1.0
    assert row["architecture"] == "T5ForConditionalGeneration"
    assert row["best_dev_accuracy"] == 0.625
    assert row["best_dev_loss"] == 1.25
    assert row["config"] == (
        "kind=t5_config d_model=16; mode=standard rationale=unrevised alpha=0.5; "
        "max_steps=4 learning_rate=0.001"
    )
    json.dumps(preview)  # kedro-viz serialises it


def test_pickled_or_missing_weights_are_refused(tmp_path):
    folder = _student_folder(tmp_path / "bad", 0)
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(DatasetError, match=r"pickled weight files \['pytorch_model.bin'\]"):
        _dataset(tmp_path).save({0: folder})
    (folder / "pytorch_model.bin").unlink()
    (folder / "model.safetensors").unlink()
    with pytest.raises(DatasetError, match=r"no \*\.safetensors"):
        _dataset(tmp_path).save({0: folder})
    with pytest.raises(DatasetError, match="empty seed mapping"):
        _dataset(tmp_path).save({})
    assert not _dataset(tmp_path).exists()


def test_an_incomplete_version_is_not_loaded(tmp_path):
    ds = _dataset(tmp_path)
    ds.save({0: _student_folder(tmp_path / "run" / "s0", 0)})
    (version,) = (tmp_path / "students" / "cqa_tiny_standard").iterdir()
    (version / "cqa_tiny_standard" / "cell.json").unlink()  # as if killed while writing
    fresh = _dataset(tmp_path)
    assert not fresh.exists()
    with pytest.raises(DatasetError, match="not a complete set of students"):
        fresh.load()


def test_other_ranks_of_a_distributed_run_do_not_save(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    _dataset(tmp_path).save({0: _student_folder(tmp_path / "run" / "s0", 0)})
    curves = TrainingCurvesDataset(filepath=str(tmp_path / "curves.parquet"), file_format="parquet")
    import polars as pl

    curves.save(pl.DataFrame({"step": [1]}))
    assert not (tmp_path / "students").exists()
    assert not (tmp_path / "curves.parquet").exists()


def test_checkpoint_store_keeps_one_fingerprint_per_seed(tmp_path):
    store = TrainingCheckpointsDataset(path=str(tmp_path / "ckpt" / "cqa_x")).load()
    assert isinstance(store, CheckpointStore)
    old = store.checkpoint_dir(0, "aaaa")
    old.mkdir()
    (old / "step_00000002").mkdir()
    other_seed = store.checkpoint_dir(1, "aaaa")
    assert store.finished(0, "aaaa") is None
    final = store.final_dir(0, "aaaa")
    final.mkdir()
    (final / SUMMARY_FILE).write_text("{}")
    assert store.finished(0, "aaaa") == final
    (old / "best_00000002").mkdir()
    (old / "llm-distillation").mkdir()  # a tracker's logs
    store.drop_checkpoints(0, "aaaa")
    assert sorted(p.name for p in old.iterdir()) == ["llm-distillation"]
    assert final.is_dir()
    store.run_dir(0, "bbbb")  # settings changed: the stale run of seed 0 goes
    assert not (tmp_path / "ckpt" / "cqa_x" / "seed_0" / "aaaa").exists()
    assert store.finished(0, "aaaa") is None
    assert other_seed.parent.is_dir()  # other seeds are untouched
    with pytest.raises(DatasetError, match="written by the training loop"):
        TrainingCheckpointsDataset(path=str(tmp_path / "ckpt")).save(store)
    with pytest.raises(DatasetError, match="local or shared file system"):
        TrainingCheckpointsDataset(path="s3://bucket/ckpt")


def test_a_remote_filesystem_is_uploaded_and_downloaded_once(tmp_path):
    """An fsspec URL (here the in-memory file system, as s3:// would be): the version is
    uploaded on save, downloaded into ``cache_dir`` on load."""
    url = f"memory://students-{tmp_path.name}/cqa_tiny_standard"

    def remote():
        return StudentModelDataset(
            filepath=url, cache_dir=str(tmp_path / "cache"), version=Version(None, None)
        )

    ds = remote()
    assert not ds.exists()
    ds.save({0: _student_folder(tmp_path / "run" / "s0", 0)})
    loaded = remote()
    assert loaded.exists()
    (student,) = loaded.load().values()
    assert str(student.folder).startswith(str(tmp_path / "cache"))
    assert json.loads((student.folder / SUMMARY_FILE).read_text())["seed"] == 0
    assert loaded.load() == {0: student}  # cached: not downloaded again
    assert loaded.preview()["data"][0][0] == 0


def test_the_store_writes_a_finished_student_the_dataset_versions(tmp_path):
    """``CheckpointStore.save_finished``: the one writer of a student folder (weights in the
    save dtype, tokenizer, curves, summary with the model's facts, model card); a rerun finds
    it, and ``StudentModelDataset`` versions it."""
    import polars as pl
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_distillation.kedro_datasets.student_model import CARD_FILE
    from llm_distillation.training.loop import CURVES_SCHEMA
    from tests.training.helpers import build_tiny_llama

    source = build_tiny_llama(tmp_path / "tiny", layers=1)
    model = AutoModelForCausalLM.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    store = TrainingCheckpointsDataset(path=str(tmp_path / "ckpt" / "cqa_x")).load()
    curves = pl.DataFrame([(1, "dev", "loss", 0.5)], schema=CURVES_SCHEMA, orient="row")
    settings = {"condition": {"mode": "standard"}}
    summary = {"cell": "cqa_x", "benchmark": "cqa", "student": "x", "condition": "standard"}
    summary |= {"seed": 0, "fingerprint": "aaaa", "settings": settings, "steps": 1}
    assert store.finished(0, "aaaa") is None
    folder = store.save_finished(
        0, "aaaa", model, tokenizer, summary=summary, curves=curves, save_dtype="bfloat16"
    )
    assert store.finished(0, "aaaa") == folder
    assert store.finished_curves(0, "aaaa").equals(curves)
    written = json.loads((folder / SUMMARY_FILE).read_text())
    assert written["dtype"] == "bfloat16" and written["architecture"] == "LlamaForCausalLM"
    assert written["parameters"] == sum(p.numel() for p in model.parameters())
    assert "- stored dtype: bfloat16" in (folder / CARD_FILE).read_text()
    assert not list(folder.parent.glob("*.partial"))
    dataset = StudentModelDataset(filepath=str(tmp_path / "students"), version=Version(None, None))
    dataset.save({0: folder})
    assert (tmp_path / "students").is_dir() and list(dataset.load()) == [0]
    with pytest.raises(DatasetError, match="no finished student for seed 1"):
        store.finished_curves(1, "aaaa")
