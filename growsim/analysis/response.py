"""Dose-response of a one-cost-at-a-time sweep: does each resource answer its own cost?

A response sweep varies the weight of one cost at a time while the other two stay at their
base values (``specs/response.yaml``). For each cost, its *arm* is the runs whose other two
weights are at their base values (the most common value of each weight across the sweep),
and the resource that cost presses on is read at the end of training:

    breadth -> active channels (summed over layers), depth -> active layers,
    time -> expected steps on clean test images.

Per seed, Spearman's rho between the weight and that resource says whether the resource
falls as its pressure rises (-1: strictly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growsim.analysis.statistics import spearman

COSTS = ("breadth", "depth", "time")
RESOURCE_OF_COST = {"breadth": "channels", "depth": "depth", "time": "steps"}
WEIGHT_KEY = "costs.{}.weight"
SEED_KEY = "training.seed"


@dataclass(frozen=True)
class Arm:
    """One cost's arm for one seed: its weights (ascending) and what the runs used."""

    cost: str
    seed: int
    weights: np.ndarray
    resource: np.ndarray  # the resource this cost presses on, per weight
    accuracy: np.ndarray  # clean test accuracy, per weight
    runs: np.ndarray  # run names, per weight

    @property
    def rho(self) -> float:
        """Spearman's rho between weight and resource (NaN when either is constant)."""
        return spearman(self.weights, self.resource)


def is_response_design(table: dict[str, np.ndarray]) -> bool:
    """True when at least two cost weights vary and every run departs from the base
    values in at most one of them."""
    keys = [WEIGHT_KEY.format(c) for c in COSTS if WEIGHT_KEY.format(c) in table]
    varying = [k for k in keys if len(np.unique(table[k])) > 1]
    if len(varying) < 2:
        return False
    departures = sum((table[k] != _base_value(table[k])).astype(int) for k in varying)
    return bool((departures <= 1).all())


def response_arms(table: dict[str, np.ndarray]) -> list[Arm]:
    """Each cost's arm per seed, from a ``growsim.analysis.findings.run_table`` of a response sweep."""
    keys = {c: WEIGHT_KEY.format(c) for c in COSTS if WEIGHT_KEY.format(c) in table}
    base = {c: _base_value(table[k]) for c, k in keys.items()}
    seeds = table[SEED_KEY] if SEED_KEY in table else np.zeros(len(table["run"]), dtype=int)
    arms = []
    for cost, key in keys.items():
        at_base = np.ones(len(table["run"]), dtype=bool)
        for other, other_key in keys.items():
            if other != cost:
                at_base &= table[other_key] == base[other]
        for seed in np.unique(seeds):
            rows = np.flatnonzero(at_base & (seeds == seed))
            rows = rows[np.argsort(table[key][rows], kind="stable")]
            if len(np.unique(table[key][rows])) < 2:
                continue
            arms.append(Arm(
                cost, int(seed), table[key][rows].astype(float),
                table[RESOURCE_OF_COST[cost]][rows].astype(float),
                table["accuracy"][rows].astype(float), table["run"][rows],
            ))  # fmt: skip
    return arms


def _base_value(values: np.ndarray):
    """The most common value (the base spec's, which every other arm keeps)."""
    unique, counts = np.unique(values, return_counts=True)
    return unique[np.argmax(counts)]
