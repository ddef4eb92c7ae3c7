"""The competent protocol's fine-tuned arms (growsim.reproduce.competent): arms that differ
from the main setting only in halting, fine-tuned from the main setting's final network of
the same seed (``training.init_from``, ``training.trainable: time``; no growth or
compaction) for TUNE_SHARE of the budget, three seeds, beside the from-scratch arm each is
named after: the page tests on validation whether they give its effect
(growsim.analysis.competent_findings.tuned_checks)."""

from __future__ import annotations

from pathlib import Path

from growsim.analysis.competent_findings import TUNED_SUFFIX
from growsim.reproduce.experiments import with_overrides

TUNED_ARMS = tuple(f"{arm}{TUNED_SUFFIX}" for arm in ("ablation", "time-weight"))
TUNE_SHARE = 0.25
BACKBONE_ARMS = ("main-bf16", "main")  # a dataset's backbone: the first of these it runs


def tuned_base(raw: dict, backbones: Path, precision: str) -> dict:
    """A fine-tuned arm's spec around the dataset's ``raw``: each seed starts from the final
    network of that seed's main run at ``precision`` in the ``backbones`` sweep (an absolute
    path, so that a cluster's workers find it), and trains only halting, for TUNE_SHARE of
    the budget."""
    return with_overrides(raw, {
        "training.init_from": str(backbones / f"training.precision={precision}_seed={{seed}}"),
        "training.trainable": "time", "growth.enabled": False, "compaction.enabled": False,
        "costs.breadth.weight": 0.0, "costs.depth.weight": 0.0,  # (only halting trains)
        "training.iterations": round(int(raw["training"]["iterations"]) * TUNE_SHARE),
    })  # fmt: skip
