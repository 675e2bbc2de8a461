"""Pure loss functions of student training (no model, no state).

Conventions: ``V`` vocabulary, ``H`` hidden size, ``N`` the number of *label tokens* (target
tokens whose label is not −100) in a batch, ``K`` the number of views. Labels follow the
Hugging Face convention: ``labels[b, t]`` is the token at position ``t``; a decoder-only model
predicts it from position ``t − 1`` (``shift=True``), an encoder-decoder's decoder from the
same position (``shift=False``, its decoder input is already shifted right).

Each view's loss is the mean cross-entropy over **its own** label tokens (a token-level mean
per view: a long explain target does not dilute a short predict target); the condition's loss
is ``Σ_v w_v · L_v`` (``conditions.view_weights``). Over gradient-accumulation micro-batches
and data-parallel processes the training loop divides per-view *sums* by the *global* token
count of each view in the optimizer step, so the gradient equals the full batch's one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100


def label_positions(labels: torch.Tensor, *, shift: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat positions of the hidden states that predict a label, and those labels.

    ``labels``: ``[B, T]`` (−100 = no loss). Returns ``positions`` ``[N]`` (indices into the
    ``[B·T]`` flattened hidden states) and ``targets`` ``[N]``. With ``shift`` the hidden
    state at ``t − 1`` predicts ``labels[:, t]``.
    """
    import torch

    t = labels.shape[1]
    if shift:
        nxt = labels[:, 1:]
        rows, cols = torch.nonzero(nxt != IGNORE_INDEX, as_tuple=True)
        return rows * t + cols, nxt[rows, cols]
    rows, cols = torch.nonzero(labels != IGNORE_INDEX, as_tuple=True)
    return rows * t + cols, labels[rows, cols]


def token_losses(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    *,
    chunk: int = 4096,
) -> torch.Tensor:
    """Cross-entropy of each label token: ``hidden`` ``[N, H]`` (the states at label
    positions), ``targets`` ``[N]`` -> ``[N]`` float32. ``head`` maps ``[n, H]`` to logits
    ``[n, V]``; it runs on at most ``chunk`` rows at a time, so no ``[B, T, V]`` tensor is ever
    built (the LM head is most of the FLOPs with a 49k vocabulary)."""
    import torch
    import torch.nn.functional as F

    if hidden.shape[0] == 0:
        return hidden.new_zeros(0, dtype=torch.float32)
    parts = [
        F.cross_entropy(
            head(hidden[i : i + chunk]).float(), targets[i : i + chunk], reduction="none"
        )
        for i in range(0, hidden.shape[0], chunk)
    ]
    return torch.cat(parts)


def view_sums(losses: torch.Tensor, view_ids: torch.Tensor, n_views: int) -> torch.Tensor:
    """Sum of the token losses ``[N]`` of each view (``view_ids`` ``[N]`` in ``0..K−1``) ->
    ``[K]``."""
    out = losses.new_zeros(n_views)
    return out.index_add(0, view_ids, losses)


def view_counts(view_ids: torch.Tensor, n_views: int) -> torch.Tensor:
    """Label tokens per view -> ``[K]`` (int64)."""
    import torch

    return torch.bincount(view_ids, minlength=n_views)


def weighted_loss(sums: torch.Tensor, counts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_v w_v · sums_v / counts_v`` (scalar); views without tokens contribute 0.

    ``sums`` ``[K]`` float, ``counts`` ``[K]`` (the token counts the means divide by, possibly
    global over micro-batches and processes), ``weights`` ``[K]``."""
    denom = counts.to(sums.dtype).clamp(min=1.0)
    return (weights.to(sums.dtype) * sums / denom).sum()


def view_mean_losses(
    logits: torch.Tensor,
    labels: torch.Tensor,
    row_views: torch.Tensor,
    n_views: int,
    *,
    shift: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference path from full logits: per-view mean losses ``[K]`` and token counts ``[K]``.

    ``logits`` ``[B, T, V]``, ``labels`` ``[B, T]``, ``row_views`` ``[B]`` (the view of each
    row). A view without label tokens has mean 0 and count 0.
    """
    positions, targets = label_positions(labels, shift=shift)
    flat = logits.reshape(-1, logits.shape[-1])[positions]
    t = labels.shape[1]
    views = row_views[positions // t]
    losses = token_losses(flat, targets, lambda x: x)
    counts = view_counts(views, n_views)
    sums = view_sums(losses, views, n_views)
    return sums / counts.to(sums.dtype).clamp(min=1.0), counts
