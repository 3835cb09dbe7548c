"""MeCo (Jiang et al. NeurIPS 2023): minimum eigenvalue of the channel correlation of every module's output."""

from __future__ import annotations

import torch

from ..errors import UserError, shown
from .base import Bound, hooks, once_per_tensor, register


def channel_corr(feature: torch.Tensor) -> torch.Tensor | float:
    """feature: one sample's output [C, ...]; corrcoef over channels in float64 (NaN/inf -> 0), [C, C]; or the
    min eigenvalue itself where it is fixed: 1.0 for one channel, 0.0 for one value per channel."""
    # contiguous: a channels-last feature (e.g. the CPU pooling fast path's) would otherwise reach corrcoef as
    # a strided view and be reduced in another order; one copy converts dtype and layout together
    f = feature.to(torch.float64, memory_format=torch.contiguous_format).reshape(feature.shape[0], -1)
    if f.shape[0] == 1:
        return 1.0
    if f.shape[1] < 2:  # one value per channel: every correlation is undefined, set to 0 as the reference does
        return 0.0
    return torch.nan_to_num(torch.corrcoef(f), nan=0.0, posinf=0.0, neginf=0.0)


def min_eigs(mats: list[torch.Tensor]) -> list[float]:
    """Smallest eigenvalue of each symmetric matrix, ``eigvalsh`` batched over matrices of one size and read back
    in one transfer: on CUDA, one host sync per network instead of one per module (NB201: 264). On the CPU,
    LAPACK runs per matrix either way, so the values equal unbatched calls bit for bit."""
    out: list[float | None] = [None] * len(mats)
    by_size: dict[int, list[int]] = {}
    for i, m in enumerate(mats):
        by_size.setdefault(m.shape[0], []).append(i)
    groups = list(by_size.values())
    if not groups:
        return []
    mins = torch.cat([torch.linalg.eigvalsh(torch.stack([mats[i] for i in g])).amin(-1) for g in groups])
    for i, v in zip((i for g in groups for i in g), mins.tolist()):
        out[i] = v
    return out


PENDING_BYTES = 64 * 2**20  # float64 correlation matrices kept for one batched eigvalsh call


def min_eig_channel_corr(feature: torch.Tensor) -> float:
    """feature: one sample's output [C, ...]; min eigenvalue of corrcoef over channels (NaN/inf -> 0)."""
    corr = channel_corr(feature)
    return corr if isinstance(corr, float) else min_eigs([corr])[0]


def _check_input_size(scorer, options) -> str | None:
    """A size other than the default is tried once on the space's first sample (one meco, when the Scorer is
    made): networks that reduce the input (and BN, which needs more than one value per channel) refuse small
    or odd sizes. A user's model (no sample to try) is left to its own per-arch error."""
    size, default = options.get("input_size", DEFAULT_INPUT), DEFAULT_INPUT
    space = scorer.space
    if size == default or not (hasattr(space, "sample") and hasattr(space, "check_input_size")):
        return None
    what = f"--set meco.input_size={size}"
    try:
        space.check_input_size(size, what=f"meco's inputs ({what})")
        meco(scorer.context(space.sample(0)), input_size=size)
    except UserError as exc:
        return str(exc)
    except (RuntimeError, ValueError) as exc:  # the network's shape refusal, named with the option behind it
        if "out of memory" in str(exc):
            raise
        return (f"{what}: {space.name} networks cannot take a 1x3x{size}x{size} input ({type(exc).__name__}: "
                f"{shown(str(exc), 100)}); give a larger size, e.g. the default {default}")
    return None


DEFAULT_INPUT = 64


@register("meco", direction=1, data="noise", bn_mode="default", defaults={"input_size": DEFAULT_INPUT},
          bounds={"input_size": Bound(1, why="it is the random input's side in pixels")},
          setup_check=_check_input_size,
          needs=("any_size",),
          reference="Jiang et al. NeurIPS 2023 (HamsterMimi/MeCo meco.py)",
          description="sum over all modules of min eig(corrcoef over channels), one random 1xCxSxS input (C: the "
                      "network's input channels, 3 on a space)")
def meco(ctx, input_size: int = 64) -> float:
    model = ctx.model()
    terms: list = []  # per hooked module: a fixed value, or the index of its eigenvalue in eigs
    eigs: list[float] = []
    pending: list[torch.Tensor] = []  # matrices whose eigenvalues are not taken yet (bounded: PENDING_BYTES)
    held = [0]  # their bytes

    def corr_index(t):
        c = channel_corr(t[0].detach())
        if isinstance(c, float):
            return c
        pending.append(c)
        held[0] += c.numel() * c.element_size()
        if held[0] >= PENDING_BYTES:  # a wide user model: flush, not gigabytes held
            eigs.extend(min_eigs(pending))
            pending.clear()
            held[0] = 0
        return len(eigs) + len(pending) - 1

    # a container's output is often its last child's very tensor (NB201: 264 distinct of 453 outputs): its
    # eigenvalue is computed once and counted once per module, as the reference counts it
    index = once_per_tensor(corr_index)

    def hook(module, inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        if torch.is_tensor(out) and out.dim() >= 1:
            terms.append(index(out))

    # 3 on a space's network (and on contexts that give no shape: supernets); a user's model takes its images'
    channels = ctx.input_shape(1)[1] if callable(getattr(ctx, "input_shape", None)) else 3
    x = torch.randn((1, channels, input_size, input_size), generator=ctx.generator(23)).to(ctx.device)
    with hooks([m.register_forward_hook(hook) for m in model.modules()]), torch.no_grad():
        model(x)
    eigs.extend(min_eigs(pending))
    # summed in module order, as before the eigenvalues were batched (the same float on the CPU)
    return float(sum(t if isinstance(t, float) else eigs[t] for t in terms))
