"""A few SGD steps on a candidate before scoring it: the fast-training strategy of DAS (Liu et al.,
arXiv 2212.12132). The paper's schedule is not published (design notes 1.3), so the recipe is the
NAS-Bench-201 one without its schedule: SGD, Nesterov momentum 0.9, weight decay 5e-4, constant lr 0.1,
cross-entropy, no augmentation."""

from __future__ import annotations

import time

import torch
from torch import nn

from ..data import make_batch


def fast_train(model: nn.Module, images, steps: int, *, batch_size: int = 64, lr: float = 0.1, seed: int = 0,
               skip_batches: int = 1) -> dict:
    """Train ``model`` in place for ``steps`` SGD steps on seeded batches of ``images``; batches
    ``0..skip_batches-1`` (the ones proxies score on) are never trained on. Returns losses and seconds."""
    device = next(model.parameters()).device
    per_epoch = len(images) // batch_size - skip_batches
    if per_epoch < 1:
        from ..errors import UserError

        raise UserError(f"{len(images)} images are too few to train on batches of {batch_size}; lower the "
                        f"batch size")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        epoch, i = divmod(step, per_epoch)
        b = make_batch(images, batch_size, seed + epoch, skip_batches + i).to(device)
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(b.x), b.y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.zero_grad(set_to_none=True)
    return {"steps": steps, "losses": losses, "seconds": time.perf_counter() - t0}
