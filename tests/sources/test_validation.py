"""Invalid rows are rejected with file, row, field and reason; never dropped silently."""

from __future__ import annotations

import json

from llm_distillation.sources.formats import read_benchmark
from llm_distillation.sources.normalize import normalize_raw


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _real_rows(shared_data, n=6):
    return [json.loads(x) for x in (shared_data / "cqa/cqa_train.json").open()][:n]


def test_each_invalid_row_is_rejected_with_its_reason(tmp_path, shared_data):
    rows = _real_rows(shared_data)
    rows[1]["answer"] = "not an option"
    rows[2]["question"] = "   "
    rows[3]["choices"] = []
    del rows[4]["answer"]
    rows[5]["id"] = rows[0]["id"]
    _write_jsonl(tmp_path / "train.jsonl", rows)
    examples, rejected = normalize_raw(
        read_benchmark("cqa", "dsbs_jsonl", {"train": "train.jsonl"}, root=tmp_path)
    )
    assert examples["source_row"].to_list() == [0]
    got = {r["source_row"]: (r["field"], r["reason"]) for r in rejected.iter_rows(named=True)}
    assert got[1][0] == "answer" and "not one of the choices" in got[1][1]
    assert got[2] == ("question", "empty")
    assert got[3][0] == "choices"
    assert got[4] == ("answer", "missing")
    assert got[5][0] == "example_id" and "duplicate id, first seen in" in got[5][1]
    assert set(rejected["source_file"]) == {str(tmp_path / "train.jsonl")}
    assert examples.height + rejected.height == len(rows)


def test_invalid_labels(tmp_path, shared_data):
    esnli = [json.loads(x) for x in (shared_data / "esnli/esnli_test.json").open()][:3]
    esnli[0]["label"] = 7
    esnli[1]["label"] = "neutral"
    _write_jsonl(tmp_path / "e.jsonl", esnli)
    _, rejected = normalize_raw(
        read_benchmark("esnli", "dsbs_jsonl", {"test": "e.jsonl"}, root=tmp_path)
    )
    assert rejected["field"].to_list() == ["label", "label"]
    assert "expected 0, 1 or 2, got 7" in rejected["reason"][0]

    sqa = json.loads((shared_data / "strategyqa/dev.json").read_text())[:2]
    sqa[0]["answer"] = "maybe"
    (tmp_path / "s.json").write_text(json.dumps(sqa))
    _, rejected = normalize_raw(
        read_benchmark("strategyqa", "strategyqa_json", {"test": "s.json"}, root=tmp_path)
    )
    assert rejected.row(0, named=True)["field"] == "answer"
    assert rejected.row(0, named=True)["example_id"] == sqa[0]["qid"]


def test_official_cqa_answer_key_not_among_labels(tmp_path, shared_data):
    rows = [json.loads(x) for x in (shared_data / "cqa/official/dev_rand_split.jsonl").open()][:2]
    rows[1]["answerKey"] = "F"
    _write_jsonl(tmp_path / "dev.jsonl", rows)
    _, rejected = normalize_raw(
        read_benchmark("cqa", "cqa_official_jsonl", {"test": "dev.jsonl"}, root=tmp_path)
    )
    assert rejected.row(0, named=True)["field"] == "answerKey"
    assert rejected.row(0, named=True)["source_row"] == 1
