"""The training loop on tiny students: the label-only head equals the full loss, the data plan,
seeds, dev selection, resume after a crash (in process; the SIGKILL test is in
test_distributed.py). What a step trains (whole source examples) and its gradient: in
test_steps.py."""

from __future__ import annotations

import pytest

from llm_distillation.consolidation.views import VIEWS
from llm_distillation.evaluation.dev_answers import GreedyDevAccuracy
from llm_distillation.training.batches import VIEW_INDEX, collate, label_loss_module
from llm_distillation.training.checkpoints import latest_checkpoint
from llm_distillation.training.conditions import condition_spec
from llm_distillation.training.config import TrainingConfig
from llm_distillation.training.data_plan import DataPlan, Groups, epoch_steps
from llm_distillation.training.examples import build_examples
from llm_distillation.training.loop import train_student
from llm_distillation.training.losses import view_mean_losses, view_sums
from llm_distillation.training.students import build_student
from tests.training.helpers import TINY_T5, consolidated_table

torch = pytest.importorskip("torch")

SHRUNK = {"kind": "shrunk_causal", "layers": [0, 2]}
COND = condition_spec("mt_cf_unrevised")


def _setup(teacher_folder, spec, *, seed=0, n=16):
    student = build_student(spec, source=teacher_folder, seed=seed)
    train = build_examples(
        consolidated_table(n),
        COND,
        student.tokenizer,
        decoder_only=student.decoder_only,
        max_length=64,
    )
    dev = build_examples(
        consolidated_table(6, seed=9),
        COND,
        student.tokenizer,
        decoder_only=student.decoder_only,
        max_length=64,
    )
    return student, train, dev


def _config(**kw):
    base = {
        "max_steps": 4,
        "batch_size": 4,
        "learning_rate": 3e-3,
        "log_every": 1,
        "progress": False,
        "seed": 5,
    }
    return TrainingConfig(**{**base, **kw})


@pytest.mark.parametrize("spec", [SHRUNK, TINY_T5], ids=["causal", "t5"])
def test_label_only_head_equals_the_full_logits_loss(teacher_folder, spec):
    student, train, _ = _setup(teacher_folder, spec)
    model = student.model.eval()
    exs = train.examples[:12]
    pad = student.tokenizer.pad_token_id or student.tokenizer.eos_token_id
    batch = collate(exs, pad_id=pad, decoder_only=student.decoder_only)
    labels = torch.full((len(exs), max(len(e.labels) for e in exs)), -100)
    if student.decoder_only:
        labels = torch.full(batch["input_ids"].shape, -100)
    for i, e in enumerate(exs):
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
    with torch.no_grad():
        if student.decoder_only:
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
        else:
            logits = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                decoder_input_ids=batch["decoder_input_ids"],
                decoder_attention_mask=batch["decoder_attention_mask"],
            ).logits
        rows = torch.tensor([VIEW_INDEX[e.view] for e in exs])
        ref, counts = view_mean_losses(logits, labels, rows, len(VIEWS), shift=student.decoder_only)
        fast = label_loss_module(model, student.decoder_only, chunk=7)(batch)
        sums = view_sums(fast, batch["token_views"], len(VIEWS))
    assert counts.sum().item() == len(fast) == sum(e.n_label_tokens for e in exs)
    assert torch.allclose(sums / counts.clamp(min=1), ref, atol=1e-5)


def test_data_plan_is_seeded_disjoint_and_length_grouped():
    lengths = [(i * 37) % 50 + 5 for i in range(64)]
    a = epoch_steps(lengths, seed=1, epoch=0, batch_size=4, micro_per_step=2)
    assert a == epoch_steps(lengths, seed=1, epoch=0, batch_size=4, micro_per_step=2)
    assert a != epoch_steps(lengths, seed=2, epoch=0, batch_size=4, micro_per_step=2)
    assert a != epoch_steps(lengths, seed=1, epoch=1, batch_size=4, micro_per_step=2)
    flat = [i for step in a for mb in step for i in mb]
    assert sorted(flat) == list(range(64))  # every example once per epoch

    def padding(steps):
        return sum(
            max(lengths[i] for i in mb) * len(mb) - sum(lengths[i] for i in mb)
            for s in steps
            for mb in s
        )

    plain = epoch_steps(
        lengths, seed=1, epoch=0, batch_size=4, micro_per_step=2, length_grouping=False
    )
    assert padding(a) < padding(plain) / 2
    groups = Groups([[i] for i in range(64)], lengths)
    plan = DataPlan(groups, _config(batch_size=4, grad_accumulation=1), processes=2)
    for step in range(12):  # spans two epochs
        r0, r1 = plan.local(step, 0), plan.local(step, 1)
        assert not set(r0[0]) & set(r1[0])
        assert plan.step(step) == [r0[0], r1[0]]
    with pytest.raises(
        ValueError, match=r"source examples per step, but the training set has only 64"
    ):
        epoch_steps(lengths, seed=1, epoch=0, batch_size=40, micro_per_step=2)


def _losses(result):
    c = result.curves
    return c.filter((c["split"] == "train") & (c["metric"] == "loss"))["value"].to_list()


def test_same_seed_same_losses_different_seed_different(teacher_folder):
    runs = []
    for seed in (5, 5, 6):
        student, train, _ = _setup(teacher_folder, TINY_T5)  # dropout 0.1 on
        runs.append(_losses(train_student(student, train, None, COND, _config(seed=seed))))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_dev_selection_keeps_the_best_weights(teacher_folder, tmp_path):
    student, train, dev = _setup(teacher_folder, SHRUNK)
    cfg = _config(max_steps=6, eval_every=2, select_by="dev_loss", checkpoint_every=3)
    result = train_student(student, train, dev, COND, cfg, checkpoint_dir=tmp_path)
    c = result.curves
    dev_loss = c.filter((c["split"] == "dev") & (c["metric"] == "loss"))
    assert dev_loss["step"].to_list() == [2, 4, 6]
    best = dev_loss.sort("value").row(0, named=True)
    assert result.best_step == best["step"] and result.best["loss"] == best["value"]
    assert set(result.best) == {"loss", *(f"loss_{v}" for v in VIEWS)}
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / f"best_{result.best_step:08d}" / "model.safetensors"))
    state = result.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    assert latest_checkpoint(tmp_path).name == "step_00000006"
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [f"best_{result.best_step:08d}", "step_00000006"]
    assert result.summary["train_views"] == train.view_counts()


def test_training_lowers_the_loss(teacher_folder):
    student, train, dev = _setup(teacher_folder, SHRUNK)
    result = train_student(
        student,
        train,
        dev,
        COND,
        _config(max_steps=12, eval_every=12, learning_rate=1e-2, select_by="dev_loss"),
    )
    losses = _losses(result)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert result.steps == 12 and result.train_tokens > 0


class _Crash(RuntimeError):
    pass


def test_crash_after_a_checkpoint_resumes_to_the_same_weights(teacher_folder, tmp_path):
    cfg = _config(max_steps=6, checkpoint_every=2, grad_accumulation=2)
    student, train, _ = _setup(teacher_folder, TINY_T5)
    ref = train_student(student, train, None, COND, cfg, checkpoint_dir=tmp_path / "ref")

    def crash(step, _):
        if step == 3:
            raise _Crash

    student, train, _ = _setup(teacher_folder, TINY_T5)
    with pytest.raises(_Crash):
        train_student(
            student, train, None, COND, cfg, checkpoint_dir=tmp_path / "run", observer=crash
        )
    assert latest_checkpoint(tmp_path / "run").name == "step_00000002"
    student, train, _ = _setup(teacher_folder, TINY_T5)
    again = train_student(student, train, None, COND, cfg, checkpoint_dir=tmp_path / "run")
    assert again.resumed_from == 2
    a, b = ref.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    timing = __import__("polars").col("metric") != "tokens_per_s"
    assert again.curves.filter(timing).equals(ref.curves.filter(timing))  # curves carried over


def test_trackers_get_the_config_group_and_the_curves(teacher_folder, tmp_path):
    from accelerate.tracking import GeneralTracker

    class Recorder(GeneralTracker):
        name = "recorder"
        requires_logging_directory = False
        main_process_only = True

        def __init__(self):
            super().__init__()
            self.config, self.logged = None, []

        @property
        def tracker(self):
            return self

        def store_init_configuration(self, values):
            self.config = values

        def log(self, values, step=None, **kwargs):
            self.logged.append((step, dict(values)))

    rec = Recorder()
    student, train, dev = _setup(teacher_folder, SHRUNK)
    cfg = _config(max_steps=2, eval_every=2, group_name="cqa_smollm2_shrunk_mt_cf")
    scorer = GreedyDevAccuracy(consolidated_table(6, seed=9), "predict", max_new_tokens=4)
    train_student(
        student, train, dev, COND, cfg, trackers=[rec], run_name="seed_0", dev_scorer=scorer
    )
    assert rec.config["group_name"] == "cqa_smollm2_shrunk_mt_cf"
    assert rec.config["mode"] == "mt_cf"
    keys = {k for _, values in rec.logged for k in values}
    assert {"train/loss", "train/tokens_per_s", "dev/loss", "dev/accuracy"} <= keys
    assert "dev/unparseable" in keys


@pytest.mark.parametrize("spec", [SHRUNK, TINY_T5], ids=["causal", "t5"])
def test_bf16_autocast_path_runs(teacher_folder, spec):
    """The GPU's mixed-precision path (bf16 autocast), exercised on the CPU with a tiny model:
    fp32 master weights, float32 losses and metrics."""
    student, train, dev = _setup(teacher_folder, spec)
    cfg = _config(max_steps=2, eval_every=2, mixed_precision="bf16", select_by="dev_loss")
    result = train_student(student, train, dev, COND, cfg)
    assert result.summary["mixed_precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert not result.curves["value"].is_nan().any()
