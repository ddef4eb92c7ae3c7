"""Accuracy as a smooth function of the three resources: a quadratic with every pairwise
interaction, fitted by least squares, and the marginal rates of substitution it implies.

    f(x) = b0 + sum_i b_i x_i + sum_{i <= j} b_ij x_i x_j        x = (width, depth, steps)

Ten coefficients; the gradient at a point gives the rate at which one resource substitutes
another at equal accuracy: MRS(i -> j) = -(df/dx_i) / (df/dx_j), the units of j that hold
accuracy when x_i grows by one unit (negative when both help: more of i, less of j).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np

RESOURCES = ("width", "depth", "steps")
PAIRS = ((0, 1), (0, 2), (1, 2))  # (i, j) index pairs of RESOURCES


def _design(x: np.ndarray) -> np.ndarray:
    """Columns 1, x_i, x_i x_j (i <= j) of points ``x`` (n, 3)."""
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    columns = [np.ones(len(x))] + [x[:, i] for i in range(x.shape[1])]
    columns += [x[:, i] * x[:, j] for i, j in combinations_with_replacement(range(x.shape[1]), 2)]
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class QuadraticSurface:
    """A fitted quadratic surface of accuracy over the resources."""

    coefficients: np.ndarray  # (10,), in _design's column order; 0 where a term was left out
    r_squared: float  # in-sample
    points: int
    varies: np.ndarray  # (3,) bool: the resource took two values or more (else left out)
    full_rank: bool  # the terms kept were linearly independent over the runs

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted accuracy at points ``x`` (n, 3)."""
        return _design(x) @ self.coefficients

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """df/dx at one point ``x`` (3,); NaN for a resource that did not vary."""
        x = np.asarray(x, dtype="float64")
        b = self.coefficients
        grad = b[1:4].copy()
        for k, (i, j) in enumerate(combinations_with_replacement(range(3), 2)):
            grad[i] += b[4 + k] * x[j]
            grad[j] += b[4 + k] * x[i]
        return np.where(self.varies, grad, np.nan)

    def substitution(self, x: np.ndarray, i: int, j: int) -> float:
        """MRS(i -> j) at ``x``: the change of resource j that holds accuracy per unit of i
        (NaN where either did not vary or the fit is rank-deficient)."""
        grad = self.gradient(x)
        if not self.full_rank or not np.isfinite(grad[[i, j]]).all() or grad[j] == 0:
            return float("nan")
        return float(-grad[i] / grad[j])


def fit_surface(x: np.ndarray, accuracy: np.ndarray) -> QuadraticSurface:
    """Least-squares quadratic surface through (resources ``x`` (n, 3), ``accuracy`` (n,)).

    A resource that took one value over the runs is left out with its terms, and one that
    took two values loses its square (those columns would repeat others): depth, a count of
    layers, often does."""
    x = np.asarray(x, dtype="float64")
    design = _design(x)
    accuracy = np.asarray(accuracy, dtype="float64")
    if len(accuracy) < design.shape[1]:
        raise ValueError(f"a quadratic in 3 resources needs at least 10 runs, got {len(accuracy)}")
    distinct = np.array([len(np.unique(np.round(x[:, i], 9))) for i in range(3)])
    keep = np.ones(design.shape[1], dtype=bool)
    for k, (i, j) in enumerate(combinations_with_replacement(range(3), 2)):
        keep[4 + k] = distinct[i] > 1 and distinct[j] > 1 and (i != j or distinct[i] > 2)
    keep[1:4] = distinct > 1
    coefficients = np.zeros(design.shape[1])
    kept, *_ = np.linalg.lstsq(design[:, keep], accuracy, rcond=None)
    coefficients[keep] = kept
    full_rank = bool(np.linalg.matrix_rank(design[:, keep]) == keep.sum())
    residual = accuracy - design @ coefficients
    total = ((accuracy - accuracy.mean()) ** 2).sum()
    r_squared = float(1 - (residual**2).sum() / total) if total > 0 else float("nan")
    return QuadraticSurface(coefficients, r_squared, len(accuracy), distinct > 1, full_rank)
