"""Rank correlation with bootstrap intervals, and a paired test of a time increase."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho with a percentile bootstrap interval."""

    rho: float
    low: float
    high: float
    n: int
    confidence: float

    def text(self) -> str:
        """``rho = 0.31 [0.25, 0.37] (95% bootstrap CI, n = 4000)``."""
        return (
            f"rho = {self.rho:.3f} [{self.low:.3f}, {self.high:.3f}] "
            f"({self.confidence:.0%} bootstrap CI, n = {self.n})"
        )


@dataclass(frozen=True)
class PairedIncrease:
    """Is ``after`` larger than ``before`` on the same items? (one-sided Wilcoxon)."""

    mean_before: float
    mean_after: float
    mean_difference: float
    low: float  # bootstrap interval of the mean difference
    high: float
    p_value: float
    n: int


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank."""
    _, inverse, counts = np.unique(
        np.asarray(values, dtype="float64"), return_inverse=True, return_counts=True
    )
    first = np.cumsum(counts) - counts  # ranks before each distinct value
    return (first + (counts + 1) / 2.0)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson correlation of average ranks); NaN if constant."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two 1-d arrays of one length, got {x.shape}, {y.shape}")
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else float("nan")


def bootstrap_spearman(
    x: np.ndarray, y: np.ndarray, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Correlation:
    """Spearman's rho of (x, y) with a percentile bootstrap interval over resampled pairs."""
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    rho = spearman(x, y)
    rng = np.random.default_rng(seed)
    samples = np.empty(resamples)
    for index in range(resamples):
        pick = rng.integers(0, len(x), len(x))
        samples[index] = spearman(x[pick], y[pick])
    samples = samples[np.isfinite(samples)]
    tail = (1 - confidence) / 2
    low, high = (np.quantile(samples, [tail, 1 - tail]) if len(samples) else (np.nan, np.nan))
    return Correlation(rho, float(low), float(high), len(x), confidence)


def paired_increase(
    before: np.ndarray, after: np.ndarray, resamples: int = 2000, seed: int = 0
) -> PairedIncrease:
    """One-sided Wilcoxon signed-rank test that ``after`` exceeds ``before``, item by item."""
    from scipy.stats import wilcoxon

    before, after = np.asarray(before, dtype="float64"), np.asarray(after, dtype="float64")
    difference = after - before
    rng = np.random.default_rng(seed)
    means = np.array(
        [difference[rng.integers(0, len(difference), len(difference))].mean() for _ in range(resamples)]
    )
    if np.allclose(difference, 0):
        p_value = 1.0
    else:
        p_value = float(wilcoxon(after, before, alternative="greater", zero_method="wilcox").pvalue)
    low, high = np.quantile(means, [0.025, 0.975])
    return PairedIncrease(
        float(before.mean()), float(after.mean()), float(difference.mean()),
        float(low), float(high), p_value, len(difference),
    )  # fmt: skip
