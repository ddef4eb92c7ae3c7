"""The experiments ``growsim reproduce`` runs: each dataset's settings on top of
``specs/reproduce/base.yaml``, and per experiment the weights, difficulty or halting it
varies, over three seeds (one with ``--quick``, on fewer runs).

Every experiment is an ordinary sweep (growsim.sweep), one per (experiment, dataset), in
``<out>/<experiment>-<dataset>/``: a finished member is skipped when the command runs again,
and an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from growsim.spec.shipped import shipped_spec
from growsim.sweep.spec import Sweep, parse_sweep

BASE_SPEC = shipped_spec("reproduce/base.yaml")
SEEDS = (0, 1, 2)

# Each dataset's settings (on top of the base spec).
DATASETS: dict[str, dict] = {
    "shapes": {
        "data.dataset": "shapes", "data.classes": 6, "data.image_size": 28,
        "data.train_size": 4000, "data.test_size": 600, "data.noise": 0.1, "data.clutter": 1,
    },
    "fashion-mnist": {
        "data.dataset": "fashion_mnist", "data.classes": 10, "data.train_size": 6000,
        "data.test_size": 1000, "training.iterations": 350,
    },
}  # fmt: skip

# What each experiment varies: a grid of key values (every combination) or points.
TRADEOFF_GRID = {
    "costs.breadth.weight": [0.001, 0.005, 0.02],
    "costs.depth.weight": [0.01, 0.05, 0.2],
    "costs.time.weight": [0.01, 0.05, 0.2],
}
EXPERIMENTS: dict[str, dict] = {
    # Findings 1, 3 (over the time weights) and 4: the 3 x 3 x 3 grid of the cost weights.
    "tradeoff": {"grid": TRADEOFF_GRID},
    # Finding 2: the number of classes and pixel noise, at the base weights.
    "complexity": {"grid": {"data.classes": [2, 5, 10], "data.noise": [0.0, 0.3]}},
    # Finding 3's ablation: halting that does not read the readout's confidence, at the base
    # weights (the grid's middle member is its partner).
    "ablation": {"points": [{"lattice.halting_reads_confidence": False}]},
}
# --quick: one seed, the extreme classes, and of the weight grid a Latin
# square: 9 settings that hold every weight value three times and the middle setting.
LATIN_SQUARE = [
    dict(zip(TRADEOFF_GRID, (breadth, depth, TRADEOFF_GRID["costs.time.weight"][(i + j + 2) % 3])))
    for i, breadth in enumerate(TRADEOFF_GRID["costs.breadth.weight"])
    for j, depth in enumerate(TRADEOFF_GRID["costs.depth.weight"])
]
QUICK_DESIGNS = {
    "tradeoff": {"points": LATIN_SQUARE},
    "complexity": {"grid": {"data.classes": [2, 10], "data.noise": [0.0, 0.3]}},
}


@dataclass(frozen=True)
class Experiment:
    """One sweep of ``growsim reproduce``: an experiment on one dataset."""

    experiment: str
    dataset: str
    sweep: Sweep

    @property
    def name(self) -> str:
        """The sweep's directory name, ``<experiment>-<dataset>``."""
        return f"{self.experiment}-{self.dataset}"


def experiments(quick: bool = False, base_spec: Path | None = None) -> list[Experiment]:
    """Every sweep ``growsim reproduce`` runs (``quick``: the small variant), in order, from
    ``base_spec`` (default: specs/reproduce/base.yaml)."""
    base_spec = base_spec or BASE_SPEC
    base = yaml.safe_load(base_spec.read_text())
    found = []
    for experiment, design in EXPERIMENTS.items():
        for dataset, settings in DATASETS.items():
            raw = with_overrides(base, settings)
            raw["name"] = f"{experiment}-{dataset}"
            if quick:
                design = QUICK_DESIGNS.get(experiment, design)
            raw["sweep"] = {**design, "seeds": [SEEDS[0]] if quick else list(SEEDS)}
            text = f"# growsim reproduce: {experiment} on {dataset}, from {base_spec.name}\n"
            text += yaml.safe_dump(raw, sort_keys=False)
            found.append(
                Experiment(
                    experiment, dataset, parse_sweep(text, f"{raw['name']} (growsim reproduce)")
                )
            )
    return found


def with_overrides(base: dict, settings: dict) -> dict:
    """A deep copy of the spec mapping ``base`` with ``key.path: value`` settings applied."""
    raw = yaml.safe_load(yaml.safe_dump(base))
    for key, value in settings.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return raw
