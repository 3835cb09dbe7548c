"""Rank correlation of proxy scores with ground truth: Spearman, Kendall, top-k overlap, rank ensembles."""

from __future__ import annotations

import math

import numpy as np


def top_k_size(n: int, frac: float) -> int:
    """How many of ``n`` architectures the top ``frac`` holds (at least 1)."""
    return max(1, int(round(n * frac)))


def top_k_overlap(scores: np.ndarray, truth: np.ndarray, frac: float) -> float:
    """Fraction of the top ``frac`` architectures by score that are also in the top ``frac`` by truth."""
    k = top_k_size(len(scores), frac)
    top_s = set(np.argsort(-scores, kind="stable")[:k])
    top_t = set(np.argsort(-truth, kind="stable")[:k])
    return len(top_s & top_t) / k


SMALL_SAMPLE = 100  # below this many archs, correlate says how wide a rho's interval is


def spearman_interval(rho: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Approximate ``level`` confidence interval of a Spearman rho measured on ``n`` pairs: Fisher's z with
    the variance 1.06 / (n - 3) of Fieller, Hartley & Pearson (Biometrika 1957). (nan, nan) for n < 4 or a
    NaN rho; |rho| = 1 gives a point interval."""
    if n < 4 or not math.isfinite(rho):
        return math.nan, math.nan
    if abs(rho) >= 1:
        return rho, rho
    from scipy import stats  # here, not at import: scipy.stats is half a second of every zeronas start

    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(1.06 / (n - 3))
    z = math.atanh(rho)
    return math.tanh(z - half), math.tanh(z + half)


def interval_words(rho: float, n: int) -> str:
    """``spearman_interval`` in words, for notes: "95% interval about 0.12..0.80", or why there is none."""
    lo, hi = spearman_interval(rho, n)
    if math.isfinite(lo):
        return f"95% interval about {lo:.2f}..{hi:.2f}"
    return "no 95% interval (fewer than 4 archs)" if n < 4 else "no 95% interval (no finite rho)"


def correlation(values: np.ndarray, truth: np.ndarray, direction: int = 1) -> dict:
    """Signed Spearman/Kendall of the raw values; top-k uses the proxy's direction (lower-is-better flipped).
    NaN values and NaN truth are dropped and counted (``dropped_nan``, of which ``no_truth`` lack ground truth
    and ``nan_values`` have it but a NaN value); -inf/+inf rank last/first."""
    values, truth = np.asarray(values, dtype=float), np.asarray(truth, dtype=float)
    keep = ~np.isnan(values) & ~np.isnan(truth)
    v, t = values[keep], truth[keep]
    out = {"n": int(keep.sum()), "dropped_nan": int((~keep).sum()), "no_truth": int(np.isnan(truth).sum()),
           "nan_values": int((np.isnan(values) & ~np.isnan(truth)).sum())}
    if len(v) < 3 or np.all(v == v[0]):
        return {**out, "spearman": math.nan, "kendall": math.nan, "top1": math.nan, "top5": math.nan,
                "top10": math.nan}
    from scipy import stats

    finite = np.where(np.isinf(v), np.sign(v) * (np.nanmax(np.abs(v[np.isfinite(v)])) * 2 + 1), v)
    oriented = finite * direction
    return {**out, "spearman": float(stats.spearmanr(finite, t)[0]), "kendall": float(stats.kendalltau(finite, t)[0]),
            "top1": top_k_overlap(oriented, t, 0.01), "top5": top_k_overlap(oriented, t, 0.05),
            "top10": top_k_overlap(oriented, t, 0.10)}


def rank_ensemble(columns: list[np.ndarray], directions: list[int], rule: str = "log_rank") -> np.ndarray:
    """Aggregate proxies over a population. ``log_rank`` (AZ-NAS): sum_m log(rank_m / N), rank 1 = worst;
    ``rank``: sum of ranks; ``vote``: not a per-arch score, so not offered here. NaN gets the worst rank."""
    from scipy import stats

    n = len(columns[0])
    total = np.zeros(n)
    for col, d in zip(columns, directions):
        col = np.where(np.isnan(col), -np.inf, np.asarray(col, dtype=float) * d)
        ranks = stats.rankdata(col, method="average")  # 1 = worst
        total += np.log(ranks / n) if rule == "log_rank" else ranks
    return total
