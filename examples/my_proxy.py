"""A proxy of your own for zeronas: pass it as examples/my_proxy.py:grad_l1 wherever a proxy name goes.

    zeronas score --index 6111 --proxies nwot,examples/my_proxy.py:grad_l1
    zeronas correlate --sample 100 --proxies examples/my_proxy.py:grad_l1,examples/my_proxy.py:weight_l2

zeronas calls it as fn(model, x, y): the untrained network (train mode, the seeded initial weights every
proxy sees), a normalised image batch [B, C, H, W] and its labels [B]. It returns a number.
"""

import torch


def grad_l1(model, x, y):
    """L1 norm of the loss gradient over all weights (a plain-gradient saliency)."""
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None)


def weight_l2(model, x, y):
    """L2 norm of the initial weights: needs no images (x is Gaussian noise, y is None)."""
    return sum(float(p.detach().pow(2).sum()) for p in model.parameters()) ** 0.5


weight_l2.data = "noise"  # no images needed
# higher is better (the default, said here to show the attribute): wider, deeper networks hold more weight, and
# on NB201 they train better, as the built-in l2_norm shows; a proxy where lower is better sets -1
weight_l2.direction = 1
