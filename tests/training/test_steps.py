"""What one optimizer step trains, on the study's real CQA rows and on tiny students.

- Every step of every named condition holds every view the condition trains (the study batches
  whole examples); sampling view rows, as the loop once did, left views out of many steps.
- One step's gradient equals the gradient of the documented objective, ``Σ_v w_v · L_v`` with
  ``L_v`` the mean token loss of view ``v`` over the step's examples, computed independently:
  one unpadded full-logits forward per view row, no label-only head, no collator.
- The selection rules (``select_by``): the best scorer value's weights, or the last ones.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from llm_distillation.consolidation.views import VIEWS
from llm_distillation.training.batches import VIEW_INDEX, label_loss_module
from llm_distillation.training.conditions import (
    NAMED_CONDITIONS,
    condition_spec,
    condition_views,
    view_weights,
)
from llm_distillation.training.config import TrainingConfig
from llm_distillation.training.data_plan import DataPlan, epoch_steps, example_groups
from llm_distillation.training.examples import build_examples
from llm_distillation.training.loop import backward_step, train_student
from llm_distillation.training.students import build_student
from tests.training.conftest import STUDY_ROWS
from tests.training.helpers import TINY_T5, consolidated_table

torch = pytest.importorskip("torch")

SHRUNK = {"kind": "shrunk_causal", "layers": [0, 2]}


def _config(**kw):
    base = {"max_steps": 2, "batch_size": 4, "log_every": 1, "progress": False, "seed": 3}
    return TrainingConfig(**{**base, **kw})


@pytest.mark.parametrize(
    "name",
    [n for n, c in NAMED_CONDITIONS.items() if condition_views(c)],  # untrained: none
)
def test_every_step_of_every_named_condition_trains_all_its_views(
    name, study_cqa_train, teacher_folder
):
    condition = NAMED_CONDITIONS[name]
    student = build_student(SHRUNK, source=teacher_folder, seed=0)
    train = build_examples(
        study_cqa_train, condition, student.tokenizer, decoder_only=True, max_length=300
    )
    views = set(condition_views(condition))
    groups = example_groups(train.examples, condition_views(condition))
    assert len(groups) > 0.9 * STUDY_ROWS  # complete examples kept
    cfg = _config(batch_size=4, grad_accumulation=2, megabatch_factor=4)
    plan = DataPlan(groups, cfg, processes=1)
    for step in range(3 * plan.steps_per_epoch):  # three epochs
        rows = [train.examples[i] for micro in plan.step(step) for i in micro]
        assert {e.view for e in rows} == views, f"{name} step {step}"
        sources = {(e.teacher, e.example_id) for e in rows}
        assert len(sources) == cfg.batch_size * cfg.grad_accumulation  # batch_size counts examples
        for micro in plan.step(step):  # a source example is never split across micro-batches
            ids = {train.examples[i].example_id for i in micro}
            assert len(ids) == cfg.batch_size
    if len(views) > 1:
        # the old plan (view rows sampled and sorted by length) left views out of steps
        lengths = [e.n_tokens for e in train.examples]
        old = epoch_steps(lengths, seed=3, epoch=0, batch_size=8, micro_per_step=1)
        lacking = sum(1 for s in old if {train.examples[i].view for i in s[0]} != views)
        assert lacking > 0


def test_a_training_run_observes_whole_examples_in_every_step(teacher_folder):
    condition = condition_spec("mt_cf_unrevised")
    student = build_student(SHRUNK, source=teacher_folder, seed=0)
    train = build_examples(
        consolidated_table(16), condition, student.tokenizer, decoder_only=True, max_length=64
    )
    seen: dict[int, list[int]] = {}
    cfg = _config(max_steps=6, grad_accumulation=2, batch_size=2)
    train_student(
        student,
        train,
        None,
        condition,
        cfg,
        observer=lambda step, idx: seen.setdefault(step, []).extend(idx),
    )
    assert sorted(seen) == list(range(6))
    for rows in seen.values():
        assert {train.examples[i].view for i in rows} == set(VIEWS)
        assert len({train.examples[i].example_id for i in rows}) == 4


def test_examples_missing_a_view_are_left_out(teacher_folder):
    table = consolidated_table(8).with_columns(
        few_shot_positive_rationale=pl.when(pl.col("example_id") == "cqa-0003")
        .then(None)
        .otherwise(pl.col("few_shot_positive_rationale"))
    )
    condition = condition_spec("mt_unrevised")
    student = build_student(SHRUNK, source=teacher_folder, seed=0)
    train = build_examples(table, condition, student.tokenizer, decoder_only=True, max_length=64)
    groups = example_groups(train.examples, condition_views(condition))
    assert groups.incomplete == 1 and len(groups) == 7
    kept = {train.examples[g[0]].example_id for g in groups.members}
    assert "cqa-0003" not in kept


def _reference_gradient(model, examples, weights, *, decoder_only):
    """∇ Σ_v w_v · mean(token losses of view v over ``examples``), one unpadded full-logits
    forward per example."""
    per_view: dict[str, list] = {v: [] for v in VIEWS}
    for e in examples:
        labels = torch.tensor(e.labels)
        if decoder_only:
            logits = model(input_ids=torch.tensor([e.input_ids])).logits[0]
            logits, labels = logits[:-1], labels[1:]
        else:
            logits = model(
                input_ids=torch.tensor([e.input_ids]),
                decoder_input_ids=torch.tensor([e.decoder_input_ids]),
            ).logits[0]
        keep = labels != -100
        per_view[e.view].append(
            torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="none")
        )
    loss = sum(weights[v] * torch.cat(per_view[v]).mean() for v in weights if per_view[v])
    model.zero_grad()
    loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("spec", [SHRUNK, TINY_T5], ids=["causal", "t5"])
@pytest.mark.parametrize(
    "condition",
    [
        condition_spec("mt_cf_unrevised"),
        condition_spec({"name": "mt_cf_revised", "alpha": 0.3, "beta": 0.8, "gamma": 0.6}),
        condition_spec({"name": "mt_unrevised", "alpha": 0.25}),
    ],
    ids=["mt_cf", "mt_cf_weighted", "mt_weighted"],
)
def test_one_step_gradient_equals_the_documented_objective(teacher_folder, spec, condition):
    from accelerate import Accelerator

    student = build_student(spec, source=teacher_folder, seed=1)
    model = student.model.eval()  # no dropout: both paths see the same function
    train = build_examples(
        consolidated_table(12),
        condition,
        student.tokenizer,
        decoder_only=student.decoder_only,
        max_length=128,
    )
    cfg = _config(batch_size=2, grad_accumulation=2)
    plan = DataPlan(example_groups(train.examples, condition_views(condition)), cfg, 1)
    micro = [[train.examples[i] for i in idx] for idx in plan.local(0, 0)]
    rows = [e for mb in micro for e in mb]
    weights = view_weights(condition)
    assert {e.view for e in rows} == set(weights)
    counts = np.zeros(len(VIEWS))
    for e in rows:
        counts[VIEW_INDEX[e.view]] += e.n_label_tokens
    w = torch.zeros(len(VIEWS))
    for v, x in weights.items():
        w[VIEW_INDEX[v]] = x
    pad = student.tokenizer.pad_token_id
    pad = student.tokenizer.eos_token_id if pad is None else pad
    module = label_loss_module(model, student.decoder_only, chunk=5)
    model.zero_grad()
    backward_step(
        Accelerator(cpu=True),
        module,
        micro,
        torch.tensor(counts, dtype=torch.float32),
        w,
        pad_id=pad,
        decoder_only=student.decoder_only,
    )
    loop = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    ref = _reference_gradient(model, rows, weights, decoder_only=student.decoder_only)
    assert loop.keys() == ref.keys()
    for name in ref:
        assert torch.allclose(loop[name], ref[name], atol=1e-6, rtol=1e-4), name


class _Scripted:
    """A dev scorer whose accuracies are given (the selection rule under test, not a model)."""

    def __init__(self, values):
        self.values = list(values)

    def __call__(self, model, tokenizer):
        return {"accuracy": self.values.pop(0), "unparseable": 0.0}


def _run(teacher_folder, tmp_path, **kw):
    condition = condition_spec("mt_unrevised")
    student = build_student(SHRUNK, source=teacher_folder, seed=0)
    make = {"decoder_only": True, "max_length": 64}
    train = build_examples(consolidated_table(16), condition, student.tokenizer, **make)
    dev = build_examples(consolidated_table(4, seed=9), condition, student.tokenizer, **make)
    cfg = _config(
        **{"max_steps": 6, "eval_every": 2, "learning_rate": 1e-2, **kw.pop("config", {})}
    )
    return train_student(student, train, dev, condition, cfg, checkpoint_dir=tmp_path, **kw)


def test_dev_accuracy_keeps_the_most_accurate_step(teacher_folder, tmp_path):
    from safetensors.torch import load_file

    result = _run(teacher_folder, tmp_path, dev_scorer=_Scripted([0.2, 0.6, 0.4]))
    assert result.best_step == 4 and result.best["accuracy"] == 0.6
    saved = load_file(str(tmp_path / "best_00000004" / "model.safetensors"))
    state = result.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    dev = result.curves.filter(pl.col("split") == "dev", pl.col("metric") == "accuracy")
    assert dev["value"].to_list() == [0.2, 0.6, 0.4]


def test_final_keeps_the_last_weights(teacher_folder, tmp_path):
    final = _run(teacher_folder, tmp_path / "a", config={"select_by": "final"})
    plain = _run(teacher_folder, tmp_path / "b", config={"eval_every": 0})
    assert final.best_step == 6
    a, b = final.model.state_dict(), plain.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "a").glob("best_*"))


def test_dev_accuracy_without_a_scorer_is_refused(teacher_folder, tmp_path):
    with pytest.raises(ValueError, match="dev_accuracy needs the greedy dev scorer"):
        _run(teacher_folder, tmp_path)
