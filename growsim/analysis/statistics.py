"""Rank correlation with bootstrap intervals, a paired test of a time increase, and the mean
of a few runs with a t interval, and the Welch difference of two groups of runs with its
equivalence test (TOST)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EQUIVALENCE_MARGIN = 0.02  # accuracy: "equal" means within 2 points (TOST)


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho with a percentile bootstrap interval."""

    rho: float
    low: float
    high: float
    n: int  # pairs
    confidence: float
    clusters: int | None = None  # resampled units (images) when pairs were resampled by cluster

    def text(self) -> str:
        """``rho = 0.31 [0.25, 0.37] (95% bootstrap CI, n = 4000)``, or with clusters
        ``(95% bootstrap CI over images, n = 1000 images, 4000 pairs)``."""
        interval = f"rho = {self.rho:.3f} [{self.low:.3f}, {self.high:.3f}]"
        if self.clusters is None:
            return f"{interval} ({self.confidence:.0%} bootstrap CI, n = {self.n})"
        return (f"{interval} ({self.confidence:.0%} bootstrap CI over images, "
                f"n = {self.clusters} images, {self.n} pairs)")  # fmt: skip


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
    p_holm: float | None = None  # p adjusted (Holm) across the family it was tested in


@dataclass(frozen=True)
class MeanInterval:
    """The mean of a few independent runs (seeds) with a Student-t interval."""

    mean: float
    low: float  # equal to mean when n < 2
    high: float
    n: int  # runs
    confidence: float

    def text(self, scale: float = 1.0, digits: int = 1, sign: bool = False) -> str:
        """``+1.2 [-0.3, +2.7] (n = 3)``, every value times ``scale``."""
        form = f"{'+' if sign else ''}.{digits}f"
        values = [format(v * scale, form) for v in (self.mean, self.low, self.high)]
        if self.n < 2:
            return f"{values[0]} (n = {self.n}, no interval)"
        return f"{values[0]} [{values[1]}, {values[2]}] (n = {self.n})"


def mean_interval(values, confidence: float = 0.95) -> MeanInterval:
    """Mean of ``values`` (one per run) with a two-sided Student-t interval across runs."""
    from scipy.stats import t

    values = np.asarray(values, dtype="float64")
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("mean_interval needs a non-empty 1-d sequence of values")
    mean = float(values.mean())
    if len(values) < 2:
        return MeanInterval(mean, mean, mean, len(values), confidence)
    half = float(
        t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    )
    return MeanInterval(mean, mean - half, mean + half, len(values), confidence)


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
    x: np.ndarray,
    y: np.ndarray,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> Correlation:
    """Spearman's rho of (x, y) with a percentile bootstrap interval.

    Pairs are resampled one by one, or, with ``clusters`` (one id per pair, e.g. the image
    a (image, occlusion level) pair belongs to), whole clusters are resampled with all their
    pairs: pairs of one image are not independent, and resampling them singly makes the
    interval too narrow.
    """
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    rho = spearman(x, y)
    rng = np.random.default_rng(seed)
    members = None
    if clusters is not None:
        ids = np.asarray(clusters)[keep]
        order = np.argsort(ids, kind="stable")
        _, starts = np.unique(ids[order], return_index=True)
        members = np.split(order, starts[1:])
    samples = np.empty(resamples)
    for index in range(resamples):
        if members is None:
            pick = rng.integers(0, len(x), len(x))
        else:
            pick = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        samples[index] = spearman(x[pick], y[pick])
    samples = samples[np.isfinite(samples)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail]) if len(samples) else (np.nan, np.nan)
    count = None if members is None else len(members)
    return Correlation(rho, float(low), float(high), len(x), confidence, count)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (same order as given)."""
    p = np.asarray(p_values, dtype="float64")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    result = np.empty_like(adjusted)
    result[order] = adjusted
    return result.tolist()


def paired_increase(
    before: np.ndarray, after: np.ndarray, resamples: int = 2000, seed: int = 0
) -> PairedIncrease:
    """One-sided Wilcoxon signed-rank test that ``after`` exceeds ``before``, item by item."""
    from scipy.stats import wilcoxon

    before, after = np.asarray(before, dtype="float64"), np.asarray(after, dtype="float64")
    difference = after - before
    rng = np.random.default_rng(seed)
    means = np.array(
        [
            difference[rng.integers(0, len(difference), len(difference))].mean()
            for _ in range(resamples)
        ]
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


@dataclass(frozen=True)
class LevelIncrease:
    """Steps added at one occlusion level over the clean images, on the same images."""

    level: float
    mean_difference: float
    low: float  # image-level bootstrap interval of the mean difference
    high: float
    p_value: float  # one-sided Wilcoxon signed-rank, occluded > clean
    p_holm: float  # Holm-adjusted across the levels of the run
    images: int


def increases_by_level(
    steps: np.ndarray, levels, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> list[LevelIncrease]:
    """Per occluded level, the mean of (steps at the level - clean steps) over images with a
    bootstrap interval that resamples images (each drawn image brings all its levels, so
    the levels' intervals come from the same resamples), a one-sided Wilcoxon test per
    level and Holm's adjustment across the levels. ``steps``: (level, image), clean first."""
    from scipy.stats import wilcoxon

    steps = np.asarray(steps, dtype="float64")
    differences = steps[1:] - steps[0]  # (occluded level, image)
    images = steps.shape[1]
    picks = np.random.default_rng(seed).integers(0, images, (resamples, images))
    means = differences[:, picks].mean(axis=2)  # (level, resample)
    tail = (1 - confidence) / 2
    lows, highs = np.quantile(means, [tail, 1 - tail], axis=1)
    p_values = [
        1.0 if np.allclose(d, 0) else float(wilcoxon(d, alternative="greater").pvalue)
        for d in differences
    ]
    adjusted = holm(p_values) if p_values else []
    return [
        LevelIncrease(float(level), float(d.mean()), float(lo), float(hi), p, q, images)
        for level, d, lo, hi, p, q in zip(
            list(levels)[1:], differences, lows, highs, p_values, adjusted
        )
    ]


@dataclass(frozen=True)
class Difference:
    """b - a of a per-seed measure between two groups of seeds (Welch)."""

    mean: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        """The interval lies on one side of 0."""
        return self.low > 0 or self.high < 0

    def within(self, margin: float) -> bool:
        """The interval lies inside (-margin, margin): with a 90% interval, TOST at 5%
        (NaN: not within)."""
        return bool(-margin < self.low and self.high < margin)


def welch_difference(a, b, confidence: float) -> Difference:
    """Mean of ``b`` - mean of ``a`` with its Welch t interval at ``confidence``."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    mean = float(b.mean() - a.mean())
    if se == 0:
        return Difference(mean, mean, mean)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, df) * se)
    return Difference(mean, mean - half, mean + half)


def equivalent(a, b, margin: float = EQUIVALENCE_MARGIN) -> bool:
    """TOST at 5%: the 90% Welch interval of the difference lies within (-margin, margin)."""
    return welch_difference(a, b, 0.90).within(margin)
