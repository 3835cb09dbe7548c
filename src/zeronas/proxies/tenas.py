"""TE-NAS (Chen et al. ICLR 2021) trainability and expressivity, and TEG-NAS generalization."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import Bound, Inapplicable, Undefined, gram, hooks, per_sample_output_grads, register


def no_gradient(params: str) -> str:
    return (f"the output's gradient w.r.t. {params} is 0: they do not affect it (e.g. every path from the input "
            f"is 'none')")


def ntk(model, x: torch.Tensor, name_filter=lambda n: "weight" in n, lower: str = "the batch size") -> torch.Tensor:
    """Empirical NTK Theta = J J^T (float64) over parameters passing ``name_filter``; ``lower``: the option
    named when the batch's Jacobian would not fit in memory."""
    params = [p for n, p in model.named_parameters() if name_filter(n) and p.requires_grad]
    theta = gram(per_sample_output_grads(model, x, params, lower=lower))
    return torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device) if theta is None else theta


def condition_number(theta: torch.Tensor) -> float:
    """lambda_max / lambda_min (eigvalsh); undefined (NaN, with the reason) when lambda_min <= 0 or values
    are not finite."""
    if not torch.all(torch.isfinite(theta)):
        return Undefined("undefined: the NTK is not finite (the gradients overflowed)")
    if not theta.any():
        return Undefined(f"undefined: the NTK is 0: {no_gradient('the weights')}")
    ev = torch.linalg.eigvalsh(theta)
    lo, hi = ev[0].item(), ev[-1].item()
    if lo <= 0:
        return Undefined(f"undefined: the NTK is singular (lambda_min = {lo:.1e} <= 0), so its condition number "
                         f"is infinite")
    return hi / lo


@register("ntk_cond", direction=-1, shares_isomorphs=True, data="batch", bn_mode="train", dtype="float64",
          needs=("classifier", "params"),
          defaults={"batch_size": None}, batch_option="batch_size", min_batch=2,
          min_batch_why="the condition number of a 1 x 1 NTK is 1 for every network",
          reference="Chen et al. ICLR 2021 (TE-NAS lib/procedures/ntk.py); NB201 batch 72",
          description="condition number of the empirical NTK over one batch (weights only; lower is better)")
def ntk_cond(ctx, batch_size: int | None = None) -> float:
    x = ctx.batch(0, size=batch_size, proxy="ntk_cond").x
    lower = "--set ntk_cond.batch_size" if batch_size is not None else "--batch-size or --set ntk_cond.batch_size"
    return condition_number(ntk(ctx.model(), x, lower=f"{lower} (TE-NAS used 72 on NB201)"))


def count_distinct_rows(codes: np.ndarray) -> int:
    """Number of distinct binary rows, exact (packed bits, then unique)."""
    packed = np.packbits(codes.astype(bool), axis=1)
    return int(np.unique(packed, axis=0).shape[0])


def activation_patterns(model, inputs: list[torch.Tensor]) -> np.ndarray:
    """Post-ReLU sign patterns (ReLUs with 4-D input) for every sample, each chunk its own forward pass."""
    rows = []
    feats: list[torch.Tensor] = []

    def hook(module, args, output):
        if args[0].dim() == 4:
            feats.append((output.detach() > 0).reshape(output.shape[0], -1))

    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    with hooks([m.register_forward_hook(hook) for m in relus]), torch.no_grad():
        for x in inputs:
            feats.clear()
            model(x)
            if feats:
                rows.append(torch.cat(feats, 1).cpu().numpy())
            else:
                rows.append(np.zeros((x.shape[0], 0), dtype=bool))
    return np.concatenate(rows)


def _check_crop(scorer, options) -> str | None:
    crop, side = options.get("crop", 3), scorer.input_size
    sides = (side, side) if isinstance(side, int) else tuple(side)
    if scorer.images is not None and crop > min(sides):
        return (f"--set linear_regions.crop={crop}: the crops are cut from the {'x'.join(map(str, sides))} images, so "
                f"crop is at most {min(sides)}")
    return None


@register("linear_regions", direction=1, data="crops", bn_mode="train",
          needs=("thin_network",),
          defaults={"samples": 1000, "batches": 3, "crop": 3},
          bounds={"samples": Bound(1, why="it counts patterns over the samples of each batch"),
                  "batches": Bound(1, why="it averages over batches"),
                  "crop": Bound(1, why="it is the crops' side in pixels")},
          setup_check=_check_crop,
          reference="Chen et al. ICLR 2021 (TE-NAS linear_region_counter.py)",
          description="distinct ReLU patterns of the thin net (C=1, one cell) over 3x1000 random 3x3 one-channel crops")
def linear_regions(ctx, samples: int = 1000, batches: int = 3, crop: int = 3) -> float:
    if not hasattr(ctx.space, "build_thin"):
        # not a UserError: '--proxies all' on such a space records it as inapplicable and goes on
        raise Inapplicable(f"linear_regions needs TE-NAS's thin cell network, which space {ctx.space.name} lacks")
    crops = ctx.crops(samples * batches, size=crop, channels=1, proxy="linear_regions")
    def thin(arch, C=None, N=None, **options):  # the thin net fixes its own width and depth: --set C/N do not apply
        return ctx.space.build_thin(arch, **options)

    model = ctx.build(builder=thin, seed_offset=101).train()
    codes = activation_patterns(model, list(crops.split(samples)))
    return float(count_distinct_rows(codes)) if codes.shape[1] else 1.0


def ntk_regression_mse(gx: list[torch.Tensor], gy: list[torch.Tensor], tx: torch.Tensor, ty: torch.Tensor,
                       notes: list | None = None) -> float:
    """MSE of NTK kernel regression: Y^ = Theta_yx Theta_xx^-1 T~x against T~y (targets centred per batch).
    Falls back to a least-squares solve when Theta_xx is singular and notes it."""
    if not gx or not gy:  # TEG-NAS marks such an arch "bad"
        return Undefined(f"undefined: {no_gradient('the cell parameters')}")
    theta_xx, theta_yx = gram(gx), gram(gy, gx)
    if not torch.all(torch.isfinite(theta_xx)):
        return Undefined("undefined: the train-batch NTK is not finite (the gradients overflowed)")
    if theta_xx.abs().max().item() == 0:
        return Undefined(f"undefined: the train-batch NTK is 0: {no_gradient('the cell parameters')}")
    tx, ty = tx.double(), ty.double()
    tx, ty = tx - tx.mean(0, keepdim=True), ty - ty.mean(0, keepdim=True)
    try:
        alpha = torch.linalg.solve(theta_xx, tx)
    except RuntimeError:
        alpha = torch.linalg.lstsq(theta_xx.cpu(), tx.cpu(), driver="gelsd").solution.to(tx.device)
        if notes is not None:
            notes.append("teg_mse: singular NTK, least-squares solve used")
    pred = theta_yx @ alpha
    return ((ty - pred) ** 2).sum(1).mean().item()


@register("teg_mse", direction=-1, shares_isomorphs=True, data="batch+heldout", bn_mode="train", dtype="float64",
          needs=("classifier", "cell_params",),
          min_batch=2, min_batch_why="targets are centred by the batch mean: one sample's are 0 and so is the MSE",
          reference="TEG-NAS, arXiv 2108.11939 (VITA-Group/TEGNAS lib/procedures/ntk.py)",
          description="NTK kernel-regression MSE from a train batch to a held-out batch, cell parameters only")
def teg_mse(ctx) -> float:
    model = ctx.model()
    bx, by = ctx.batch(0, proxy="teg_mse"), ctx.heldout_batch(0, proxy="teg_mse")
    if hasattr(model, "searchable_parameters"):
        params = model.searchable_parameters()
    else:
        params = [p for n, p in model.named_parameters() if "cell" in n and p.requires_grad]
    gx = per_sample_output_grads(model, bx.x, params, lower="--batch-size")
    gy = per_sample_output_grads(model, by.x, params, lower="--batch-size")
    k = ctx.num_classes
    return ntk_regression_mse(gx, gy, nn.functional.one_hot(bx.y, k), nn.functional.one_hot(by.y, k), ctx.notes)
