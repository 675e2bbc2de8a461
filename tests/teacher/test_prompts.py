"""Prompt rendering from the shipped configuration (conf/base/parameters_teacher_prompts.yml)."""

from __future__ import annotations

import pytest
import yaml

from llm_distillation.teacher.prompts import PromptBuilder, PromptConfig

from ..conftest import PROJECT_ROOT

ROWS = {
    "cqa": {
        "example_id": "cqa-1",
        "question": "What would a cat most likely chase?",
        "premise": None,
        "hypothesis": None,
        "choices": ["a mouse", "a cloud", "a train", "a river", "a mountain"],
        "answer_index": 0,
    },
    "esnli": {
        "example_id": "esnli-1",
        "question": None,
        "premise": "A girl rides a bike down a hill.",
        "hypothesis": "A child is on a bicycle.",
        "choices": ["entailment", "neutral", "contradiction"],
        "answer_index": 0,
    },
    "strategyqa": {
        "example_id": "sqa-1",
        "question": "Can a goldfish climb a tree?",
        "premise": None,
        "hypothesis": None,
        "choices": ["yes", "no"],
        "answer_index": 1,
    },
}


@pytest.fixture(scope="module")
def config() -> PromptConfig:
    path = PROJECT_ROOT / "conf/base/parameters_teacher_prompts.yml"
    return PromptConfig.model_validate(yaml.safe_load(path.read_text())["teacher_prompts"])


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)


@pytest.mark.parametrize("benchmark", sorted(ROWS))
def test_positive_prompt_has_gold_options_and_demos(config, benchmark):
    row = ROWS[benchmark]
    builder = PromptBuilder(config, benchmark)
    prompt = builder.build("positive_rationale", row)
    gold = row["choices"][row["answer_index"]]
    target = prompt.messages[-1]["content"]
    assert prompt.messages[-1]["role"] == "user"
    assert target.endswith(f"The answer is {gold}.")
    for option in row["choices"]:
        assert option in target
    demos = config.benchmarks[benchmark].demos[: config.demos_per_task["positive_rationale"]]
    prefix = _text(prompt.prefix_messages)
    assert prompt.prefix_messages[0]["role"] == "system"
    for demo in demos:
        assert demo.rationale in prefix
    # alternating demo turns, the shared part identical across examples
    roles = [m["role"] for m in prompt.prefix_messages[1:]]
    assert roles == ["user", "assistant"] * len(demos)
    other = dict(row, example_id="other")
    assert builder.build("positive_rationale", other).prefix_messages == prompt.prefix_messages


@pytest.mark.parametrize("benchmark", sorted(ROWS))
def test_counterfactual_one_prompt_per_option(config, benchmark):
    row = ROWS[benchmark]
    builder = PromptBuilder(config, benchmark)
    options = builder.options_for("counterfactual_rationale", row)
    assert options == list(range(len(row["choices"])))
    for i in options:
        prompt = builder.build("counterfactual_rationale", row, option_index=i)
        assert prompt.messages[-1]["content"].endswith(f"The answer is {row['choices'][i]}.")
        assert prompt.option_index == i
    assert builder.options_for("positive_rationale", row) == [row["answer_index"]]


def test_negative_prompt_uses_poor_demos_and_bad_adjectives(config):
    row = ROWS["cqa"]
    builder = PromptBuilder(config, "cqa")
    prompt = builder.build("negative_rationale", row)
    prefix = _text(prompt.prefix_messages)
    assert config.benchmarks["cqa"].demos[0].poor_rationale in prefix
    assert config.benchmarks["cqa"].demos[0].rationale not in prefix
    header = prompt.messages[-1]["content"].rsplit("Explanation (", 1)[1].split(")")[0]
    adjectives = header.split(" and ")
    assert set(adjectives) <= set(config.adjectives.negative)
    positive = builder.build("positive_rationale", row).messages[-1]["content"]
    header = positive.rsplit("Explanation (", 1)[1].split(")")[0]
    assert set(header.split(" and ")) <= set(config.adjectives.positive)


def test_critique_and_revision_carry_rationale_request_and_gold(config):
    row = ROWS["strategyqa"]
    builder = PromptBuilder(config, "strategyqa", seed=3)
    critique = builder.build("critique", row, rationale="Fish have no legs.")
    pair = builder.request_pair(row["example_id"])
    assert critique.request == pair.critique
    content = critique.messages[-1]["content"]
    assert "The answer is no. Fish have no legs." in content and pair.critique in content
    revision = builder.build("revision", row, rationale="Fish have no legs.", critique="Too short.")
    content = revision.messages[-1]["content"]
    assert content.endswith("Revision: The answer is no.")
    assert "Too short." in content and pair.revision in content
    with pytest.raises(ValueError, match="needs the positive rationale"):
        builder.build("critique", row)


def test_draws_are_seeded_per_example(config):
    row = ROWS["cqa"]
    a = PromptBuilder(config, "cqa", seed=0)
    b = PromptBuilder(config, "cqa", seed=0)
    assert a.build("positive_rationale", row) == b.build("positive_rationale", row)
    pairs = {PromptBuilder(config, "cqa").request_pair(f"id-{i}").critique for i in range(40)}
    assert len(pairs) > 1  # drawn, not always the same pair


def test_template_hash_changes_with_demos(config):
    base = PromptBuilder(config, "cqa").template_hash("positive_rationale")
    assert base == PromptBuilder(config, "cqa").template_hash("positive_rationale")
    assert base != PromptBuilder(config, "cqa").template_hash("critique")
    data = config.model_dump()
    data["benchmarks"]["cqa"]["demos"][0]["rationale"] = "Something else."
    changed = PromptBuilder(PromptConfig.model_validate(data), "cqa")
    assert changed.template_hash("positive_rationale") != base
    # the critique prompts do not show the changed demo field? they do show the rationale
    assert changed.template_hash("critique") != PromptBuilder(config, "cqa").template_hash(
        "critique"
    )


def test_prompt_is_short(config):
    """Rough size check: the prefix stays within a few hundred words (~300-400 tokens)."""
    for benchmark, row in ROWS.items():
        builder = PromptBuilder(config, benchmark)
        for task in ("positive_rationale", "critique", "revision"):
            prompt = builder.build(task, row, rationale="Because.", critique="Fine.")
            words = len(_text(prompt.chat).split())
            assert words < 300, (benchmark, task, words)


def test_config_errors_name_allowed_values(config):
    data = config.model_dump()
    data["demos_per_task"]["summary"] = 2
    with pytest.raises(ValueError, match="allowed"):
        PromptConfig.model_validate(data)
    data = config.model_dump()
    data["demos_per_task"]["revision"] = 3  # the third e-SNLI demo has no revision
    with pytest.raises(ValueError, match="lacks"):
        PromptConfig.model_validate(data)
    with pytest.raises(ValueError, match="no prompts configured"):
        PromptBuilder(config, "squad")
