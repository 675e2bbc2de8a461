"""Every loader on the real files in ../shared/data (and the Hub code path on a local folder)."""

from __future__ import annotations

import csv
import json

import polars as pl
import pytest

from llm_distillation.schema import EXAMPLE_SCHEMA
from llm_distillation.sources.benchmarks import content_id
from llm_distillation.sources.formats import read_benchmark, read_split
from llm_distillation.sources.normalize import normalize_raw


def _normalize(benchmark, fmt, splits, **kw):
    return normalize_raw(read_benchmark(benchmark, fmt, splits, **kw))


def test_cqa_dsbs_export(shared_data):
    examples, rejected = _normalize(
        "cqa",
        "dsbs_jsonl",
        {"train": "cqa/cqa_train.json", "test": "cqa/cqa_test.json"},
        root=shared_data,
    )
    assert rejected.is_empty()
    assert examples.schema == EXAMPLE_SCHEMA
    counts = dict(examples.group_by("split").len().iter_rows())
    assert counts == {"train": 1000, "test": 1221}
    first = examples.row(0, named=True)
    assert first["example_id"] == "6b819727eb8a670df26a7ffad036c119"
    assert first["answer"] == "math problem" and first["answer_index"] == 3
    assert first["explanations"][0] == "webmath is designed to help you solve"
    # CoS-E repeats an option in a few questions: the answer index is its first position.
    row1 = examples.row(1, named=True)
    assert row1["choices"].count("bridge") == 2 and row1["answer_index"] == 3
    assert examples["source_row"].to_list()[:3] == [0, 1, 2]


def test_cqa_official_matches_cos_e_export(shared_data):
    official, rejected = _normalize(
        "cqa", "cqa_official_jsonl", {"test": "cqa/official/dev_rand_split.jsonl"}, root=shared_data
    )
    assert rejected.is_empty() and official.height == 1221
    cos_e, _ = _normalize("cqa", "dsbs_jsonl", {"test": "cqa/cqa_test.json"}, root=shared_data)
    joined = official.join(cos_e, on="example_id", suffix="_cos_e")
    assert joined.height == 1221
    assert (joined["answer"] == joined["answer_cos_e"]).all()
    assert (joined["question"] == joined["question_cos_e"]).all()
    assert json.loads(official["metadata"][0])["question_concept"]


def test_esnli_dsbs_labels(shared_data):
    examples, rejected = _normalize(
        "esnli", "dsbs_jsonl", {"train": "esnli/esnli_valid.json"}, root=shared_data
    )
    assert rejected.is_empty() and examples.height == 1000
    assert examples["choices"][0].to_list() == ["entailment", "neutral", "contradiction"]
    assert dict(examples.group_by("answer_index").len().iter_rows()) == {0: 331, 1: 333, 2: 336}
    row = examples.row(0, named=True)
    assert row["question"] is None and row["premise"].startswith("Two women are embracing")
    assert row["example_id"] == content_id("esnli", row["premise"], row["hypothesis"])
    assert len(row["explanations"]) == 3


def test_esnli_authors_csv(tmp_path, shared_data):
    """The e-SNLI authors' CSV layout, written from real rows, gives the same examples."""
    rows = [json.loads(line) for line in (shared_data / "esnli/esnli_test.json").open()][:50]
    path = tmp_path / "esnli_test.csv"
    labels = ["entailment", "neutral", "contradiction"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "pairID",
                "gold_label",
                "Sentence1",
                "Sentence2",
                "Explanation_1",
                "Sentence1_marked_1",
                "Sentence2_marked_1",
                "Sentence1_Highlighted_1",
                "Sentence2_Highlighted_1",
                "Explanation_2",
                "Explanation_3",
            ]
        )
        for i, r in enumerate(rows):
            writer.writerow(
                [
                    f"pair{i}",
                    labels[r["label"]],
                    r["premise"],
                    r["hypothesis"],
                    r["explanation_1"],
                    "",
                    "",
                    "",
                    "",
                    r["explanation_2"],
                    r["explanation_3"],
                ]
            )
    from_csv, rejected = _normalize("esnli", "esnli_csv", {"test": "esnli_test.csv"}, root=tmp_path)
    assert rejected.is_empty()
    from_jsonl, _ = _normalize(
        "esnli", "dsbs_jsonl", {"test": "esnli/esnli_test.json"}, root=shared_data
    )
    cols = ["example_id", "premise", "hypothesis", "answer", "answer_index", "explanations"]
    assert from_csv.select(cols).equals(from_jsonl.head(50).select(cols))
    assert json.loads(from_csv["metadata"][3]) == {"pairID": "pair3"}


def test_strategyqa_json_arrays(shared_data):
    examples, rejected = _normalize(
        "strategyqa",
        "strategyqa_json",
        {"train": "strategyqa/train.json", "test": "strategyqa/dev.json"},
        root=shared_data,
    )
    assert rejected.is_empty()
    train = examples.filter(pl.col("split") == "train")
    assert train.height == 1000 and examples.height == 1229
    assert dict(train.group_by("answer").len().iter_rows()) == {"yes": 448, "no": 552}
    first = train.row(0, named=True)
    assert first["example_id"] == "2bc9c4f9c19c167187f2"
    assert first["choices"] == ["yes", "no"] and first["answer_index"] == 0
    assert first["explanations"][0] == "Julius Caesar had three children."
    assert json.loads(first["metadata"])["term"] == "Genghis Khan"


def test_study_consolidated_shards_import(shared_data):
    """The study's own teacher-output shards (save_to_disk folders) as an example source."""
    examples, rejected = _normalize(
        "cqa",
        "hf_disk",
        {"test": "llm_outputs/consolidated/cqa-llama-test"},
        root=shared_data,
    )
    assert rejected.is_empty() and examples.height == 1221
    cos_e, _ = _normalize("cqa", "dsbs_jsonl", {"test": "cqa/cqa_test.json"}, root=shared_data)
    assert set(examples["example_id"]) == set(cos_e["example_id"])
    sqa, rejected = _normalize(
        "strategyqa",
        "hf_disk",
        {"test": "llm_outputs/consolidated/strategyqa-qwen-test"},
        root=shared_data,
    )
    assert rejected.is_empty() and sqa.height == 687


def test_hub_loader_on_a_local_dataset_folder(tmp_path, shared_data):
    """``datasets.load_dataset`` code path (used by conf/paper) on a local dataset folder."""
    folder = tmp_path / "cos_e_local"
    folder.mkdir()
    lines = (shared_data / "cqa/cqa_test.json").read_text().splitlines()
    (folder / "train.jsonl").write_text("\n".join(lines[:30]) + "\n")
    (folder / "validation.jsonl").write_text("\n".join(lines[30:50]) + "\n")
    examples, rejected = _normalize(
        "cqa",
        "hf_hub",
        {"train": "train", "test": "validation"},
        hub={"path": str(folder)},
    )
    assert rejected.is_empty()
    assert dict(examples.group_by("split").len().iter_rows()) == {"train": 30, "test": 20}
    assert examples["source_file"][0] == f"hf://{folder}[train]"


def test_hub_loader_missing_split_is_a_clear_error(tmp_path, shared_data):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.jsonl").write_text((shared_data / "cqa/cqa_test.json").read_text())
    from llm_distillation.errors import SourceFormatError

    with pytest.raises(SourceFormatError, match="cannot load split 'nosuch'"):
        read_split("cqa", "hf_hub", "nosuch", hub={"path": str(folder)})
