"""The default decoder-only student cut out of the converted SmolLM2-135M teacher (slow; skipped
where the converted folder is not there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_distillation.training.conditions import condition_spec
from llm_distillation.training.config import TrainingConfig
from llm_distillation.training.examples import build_examples
from llm_distillation.training.loop import train_student
from llm_distillation.training.students import build_student
from tests.training.helpers import consolidated_table

torch = pytest.importorskip("torch")
TEACHER = Path(os.environ.get("LLM_DISTILLATION_TEACHER", "/work/cache/smollm2-135m-instruct"))


@pytest.mark.slow
@pytest.mark.skipif(not (TEACHER / "model.safetensors").is_file(), reason=f"no {TEACHER}")
def test_shrunk_smollm2_keeps_the_first_and_last_layer_and_trains():
    from safetensors import safe_open

    student = build_student({"kind": "shrunk_causal", "layers": [0, 29]}, source=TEACHER)
    model = student.model
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == 49152
    state = model.state_dict()
    with safe_open(str(TEACHER / "model.safetensors"), framework="pt") as f:
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
