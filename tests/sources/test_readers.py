"""Malformed files give an error naming the file and what was expected."""

from __future__ import annotations

import json

import pytest

from llm_distillation.errors import SourceFormatError
from llm_distillation.sources import readers
from llm_distillation.sources.formats import read_split


def test_truncated_jsonl_names_file_and_line(tmp_path, shared_data):
    lines = (shared_data / "cqa" / "cqa_train.json").read_text().splitlines()[:3]
    bad = tmp_path / "cqa_train.json"
    bad.write_text("\n".join([*lines[:2], lines[2][:40]]))
    with pytest.raises(SourceFormatError) as err:
        readers.read_jsonl(bad)
    assert str(bad) in str(err.value)
    assert "line 3: invalid JSON" in str(err.value)
    assert "expected JSON Lines" in str(err.value)


def test_truncated_json_array_says_truncated(tmp_path, shared_data):
    text = (shared_data / "strategyqa" / "dev.json").read_text()
    bad = tmp_path / "dev.json"
    bad.write_text(text[: len(text) // 2])
    with pytest.raises(SourceFormatError, match=r"dev\.json: invalid JSON .*truncated"):
        readers.read_json_array(bad)


def test_wrong_encoding(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"id": "1", "question": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(SourceFormatError, match=r"latin1\.json: not valid UTF-8 .*line 1"):
        readers.read_jsonl(bad)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    bad = tmp_path / "empty.jsonl"
    bad.write_bytes(content)
    with pytest.raises(SourceFormatError, match=r"empty\.jsonl: file is empty; expected"):
        readers.read_jsonl(bad)


def test_missing_file(tmp_path):
    with pytest.raises(SourceFormatError, match="file not found"):
        readers.read_csv(tmp_path / "nope.csv")


def test_json_array_expected_but_object_found(tmp_path):
    bad = tmp_path / "obj.json"
    bad.write_text(json.dumps({"qid": "x"}))
    with pytest.raises(SourceFormatError, match=r"top level is a JSON dict; expected a JSON array"):
        readers.read_json_array(bad)


def test_wrong_columns_names_missing_ones(tmp_path, shared_data):
    # e-SNLI rows declared as CommonsenseQA: every required column is missing.
    bad = tmp_path / "cqa_train.json"
    bad.write_text((shared_data / "esnli" / "esnli_test.json").read_text())
    with pytest.raises(SourceFormatError) as err:
        read_split("cqa", "dsbs_jsonl", "cqa_train.json", root=tmp_path)
    message = str(err.value)
    assert "wrong columns: missing 'id', 'question', 'choices', 'answer'" in message
    assert "found: explanation_1" in message


def test_csv_row_with_extra_fields(tmp_path):
    bad = tmp_path / "esnli_dev.csv"
    bad.write_text("pairID,gold_label,Sentence1,Sentence2\n1,neutral,a,b,c\n")
    with pytest.raises(SourceFormatError, match=r"data row 0 .*more fields than the header"):
        readers.read_csv(bad)


def test_unknown_format_and_benchmark_name_allowed_values():
    with pytest.raises(ValueError, match=r"unknown source format 'xml'; allowed: \["):
        read_split("cqa", "xml", "x")
    with pytest.raises(ValueError, match=r"unknown benchmark 'mmlu'; allowed: \['cqa'"):
        read_split("mmlu", "dsbs_jsonl", "x")
