"""The loss functions on tiny tensors whose values are computed by hand."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from llm_distillation.training.conditions import view_weights  # noqa: E402
from llm_distillation.training.config import ConditionSpec  # noqa: E402
from llm_distillation.training.losses import (  # noqa: E402
    label_positions,
    token_losses,
    view_counts,
    view_mean_losses,
    view_sums,
    weighted_loss,
)

L3 = math.log(3.0)


def _batch():
    """B=2, T=3, V=2. Row 0 (view 0): labels at t=1,2; row 1 (view 1): label at t=2.

    Shifted, position (0,0) predicts 0 from logits [ln3, 0]: −log(3/4); (0,1) predicts 1 from
    [0, 0]: log 2; (1,1) predicts 0 from [0, ln3]: −log(1/4) = log 4. Other positions must
    not matter (large logits there)."""
    logits = torch.full((2, 3, 2), 50.0)
    logits[0, 0] = torch.tensor([L3, 0.0])
    logits[0, 1] = torch.tensor([0.0, 0.0])
    logits[1, 1] = torch.tensor([0.0, L3])
    labels = torch.tensor([[-100, 0, 1], [-100, -100, 0]])
    return logits, labels, torch.tensor([0, 1])


def test_label_positions_shifted_and_not():
    _, labels, _ = _batch()
    pos, tgt = label_positions(labels, shift=True)
    assert pos.tolist() == [0, 1, 4] and tgt.tolist() == [0, 1, 0]
    pos, tgt = label_positions(labels, shift=False)
    assert pos.tolist() == [1, 2, 5] and tgt.tolist() == [0, 1, 0]


def test_per_view_token_means_by_hand():
    logits, labels, views = _batch()
    means, counts = view_mean_losses(logits, labels, views, 3, shift=True)
    expected_0 = (math.log(4 / 3) + math.log(2)) / 2
    assert counts.tolist() == [2, 1, 0]
    assert means[0].item() == pytest.approx(expected_0, abs=1e-6)
    assert means[1].item() == pytest.approx(math.log(4), abs=1e-6)
    assert means[2].item() == 0.0  # a view without tokens


def test_weighted_loss_is_not_the_mixed_token_mean():
    logits, labels, views = _batch()
    means, counts = view_mean_losses(logits, labels, views, 2, shift=True)
    w = torch.tensor([0.5, 0.5])
    sums = means * counts
    total = weighted_loss(sums, counts, w).item()
    by_hand = 0.5 * (math.log(4 / 3) + math.log(2)) / 2 + 0.5 * math.log(4)
    mixed = (math.log(4 / 3) + math.log(2) + math.log(4)) / 3
    assert total == pytest.approx(by_hand, abs=1e-6)
    assert abs(total - mixed) > 0.05


def test_ignored_labels_and_padding_do_not_count():
    logits, labels, views = _batch()
    padded = torch.cat([labels, torch.full((2, 2), -100)], dim=1)
    plogits = torch.cat([logits, torch.full((2, 2, 2), 7.0)], dim=1)
    a, _ = view_mean_losses(logits, labels, views, 2, shift=True)
    b, _ = view_mean_losses(plogits, padded, views, 2, shift=True)
    assert torch.equal(a, b)


def test_token_losses_chunked_head_matches_cross_entropy():
    torch.manual_seed(0)
    hidden = torch.randn(11, 4)
    head = torch.nn.Linear(4, 6, bias=False)
    targets = torch.randint(0, 6, (11,))
    full = torch.nn.functional.cross_entropy(head(hidden), targets, reduction="none")
    for chunk in (1, 3, 11, 100):
        assert torch.allclose(token_losses(hidden, targets, head, chunk=chunk), full)
    assert token_losses(hidden[:0], targets[:0], head).shape == (0,)


def test_global_counts_make_micro_batches_add_up_to_the_full_batch():
    torch.manual_seed(1)
    losses = torch.rand(10)
    views = torch.tensor([0, 0, 1, 1, 1, 0, 2, 2, 1, 0])
    w = torch.tensor([0.2, 0.3, 0.5])
    counts = view_counts(views, 3)
    full = weighted_loss(view_sums(losses, views, 3), counts, w)
    parts = sum(
        weighted_loss(view_sums(losses[s], views[s], 3), counts, w)
        for s in (slice(0, 4), slice(4, 7), slice(7, 10))
    )
    assert parts.item() == pytest.approx(full.item(), rel=1e-6)
    by_hand = sum(w[v] * losses[views == v].mean() for v in range(3))
    assert full.item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_condition_weights_by_hand():
    assert view_weights(ConditionSpec(mode="standard")) == {"predict": 1.0}
    assert view_weights(ConditionSpec(mode="mt", alpha=0.3)) == pytest.approx(
        {"predict": 0.3, "explain": 0.7}
    )
    assert view_weights(ConditionSpec(mode="cf")) == {"factual": 1.0, "counterfactual": 1.0}
    w = view_weights(ConditionSpec(mode="mt_cf", alpha=0.5, beta=0.25, gamma=0.7))
    assert w == pytest.approx(
        {"predict": 0.35, "explain": 0.35, "factual": 0.075, "counterfactual": 0.225}
    )
