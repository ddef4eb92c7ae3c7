"""The competent protocol: networks trained until the findings' own measures stop moving.
Findings 3 and 4 on Fashion-MNIST (from the shipped occlusion spec), on scikit-learn's
handwritten digits, and on shapes with occluders that do not mimic class features; findings 1
and 2 on digits (the resource arms).

Each (dataset, arm) is an ordinary sweep (growsim.sweep), resumable, in
``<out>/<dataset>/competent-<arm>/``. Every member keeps the model of each checkpoint
(``record.keep_models``), so ``measure`` re-measures each finding on validation images as
training went (growsim.analysis.emergence), against a difficulty measure from an ensemble of
reference models (growsim.analysis.difficulty). ``collect`` copies the small per-run files the
page is made from into the results folder, so the page regenerates without training.

Arms (DIAGNOSTIC_ARMS, marked *diagnostic*, run only when ``--arms`` names them):
- ``main``: the dataset's spec at its time weight, in bf16 and in fp32 (the precision
  decision reads the pairs), seeds 0-2 (``main-bf16``: bf16 only; FIVE_SEEDS: which arms of
  a dataset run seeds 0-4);
- ``long``: the main arm in bf16 at twice the iterations (does the evidence move when
  training goes on?);
- ``longer``: at four times the iterations (the budget rule's check of ``long``;
  diagnostic);
- ``quarter`` and ``half``: at a quarter and half the iterations, seeds 0-2 (the budget
  rule's chain below the main budget: where the findings' measures were still moving;
  diagnostic);
- ``centred``: halting centred on running means (``lattice.halting_centred``), seeds 0-2:
  does halting agree earlier with the objective's own allocation (the issue's hypothesis)?
- ``ablation``: halting that does not read the readout's confidence, seeds 0-2;
- ``time-weight``: 0.3 and 3 times the main time weight (with ``main``: a 10x range), seeds
  0-2 (three, so that the fine-tuned time-weight arms can be tested against them);
- ``ablation-tuned`` and ``time-weight-tuned`` (TUNED_ARMS): those arms fine-tuned from the
  main setting's networks, halting alone, seeds 0-2 (does that give their effect?);
- ``tradeoff``, ``complexity``, ``tradeoff-half``, ``tradeoff-long`` and ``tradeoff-longer``
  (RESOURCE_ARMS, findings 1 and 2): on RESOURCE_BASE (a larger box, a dearer depth) at
  RESOURCE_BUDGET_SHARE of the main budget, the base's cost weights and each alone at
  PRESSURE_FACTOR x; classes and pixel noise (COMPLEXITY_GRID); the base's weights at half,
  twice and four times the budget (their budget rule's chain; half and four times
  diagnostic); seeds 0-2. They keep resources over training (RESOURCES_NAME from the
  trajectory), not models.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import xarray as xr
import yaml

from growsim.analysis.competent_findings import TUNED_SUFFIX
from growsim.analysis.difficulty import ReferenceDifficulty, reference_difficulty
from growsim.analysis.emergence import run_emergence, trajectory_resources
from growsim.data.datasets import load_dataset
from growsim.errors import SpecError
from growsim.files import (
    CHECKPOINT_NAME,
    DIFFICULTY_NAME,
    EMERGENCE_NAME,
    FINAL_OUTPUTS_NAME,
    MODELS_DIRECTORY,
    PER_IMAGE_NAME,
    RESOURCES_NAME,
    SPEC_NAME,
    SUMMARY_NAME,
    TRAJECTORY_NAME,
)
from growsim.reproduce.experiments import with_overrides
from growsim.reproduce.fine_tuned import BACKBONE_ARMS, TUNED_ARMS, tuned_base
from growsim.runs.experiment import experiment_text
from growsim.spec import parse_stored_spec
from growsim.spec.shipped import shipped_specs
from growsim.sweep.runner import run_sweep, sweep_directory
from growsim.sweep.spec import Sweep, SweepMember, parse_sweep
from growsim.train.backbone import backbone_path
from growsim.train.run_data import prepare_run_data

SPECS = shipped_specs()
PRECISION = "bf16"  # the arms off the main one train at this precision
# per run, into the results (the spec last: its presence marks a run as copied)
COPIED = (EMERGENCE_NAME, FINAL_OUTPUTS_NAME, SUMMARY_NAME, SPEC_NAME)

# Each dataset: its base spec, the settings on top of it, and the arms it runs.
DATASETS: dict[str, tuple[Path, dict, tuple[str, ...]]] = {
    "fashion-mnist": (
        SPECS / "occlusion.yaml", {}, ("main", "ablation", "time-weight", "long", "longer", "centred",
                                    "ablation-tuned", "time-weight-tuned"),
    ),
    "shapes": (SPECS / "occlusion.yaml", {
        "data.dataset": "shapes", "data.classes": 6, "data.image_size": 28,
        "data.train_size": 8000, "data.test_size": 1000, "data.noise": 0.1, "data.clutter": 1,
        "data.validation_fraction": 0.125,
        # Occluders the colour of the background: they delete parts of a shape and draw none
        # (0.5-grey squares mimic the square, frame, bar and cross classes and shift the mean
        # by +0.8 SD; black ones by -0.3 SD). Probed on validation: see the page's occluder table.
        "data.occlusion.value": 0.0,
        "lattice.channels.max": 16, "training.iterations": 3000,
        "record.every": 250,
    }, ("main-bf16", "ablation")),
    # scikit-learn's digits, enlarged to 16 x 16: occluders hide strokes that later steps
    # recover (probed on validation, 3 seeds at 1500 iterations: the objective's own
    # allocation adds +0.62 to +0.67 steps at 60% occlusion, validation accuracy 0.97-0.98).
    # The main budget is 6000 iterations: at 1500 and 3000 halting was still learning (the
    # quarter and half arms show it); the resource arms train RESOURCE_BUDGET_SHARE of it.
    "digits": (SPECS / "occlusion.yaml", {
        "data.dataset": "digits", "data.image_size": 16, "data.train_size": 1400,
        "data.test_size": 397, "data.validation_fraction": 0.15, "data.occlusion.patch_size": 3,
        "lattice.input_stride": 1, "lattice.channels.max": 16,
        "training.iterations": 6000, "record.every": 250,
    }, ("quarter", "half", "main-bf16", "long", "ablation", "time-weight", "centred",
        "tradeoff-long", "tradeoff", "complexity", "tradeoff-half", "tradeoff-longer",
        "ablation-tuned", "time-weight-tuned", "longer")),
}  # fmt: skip
# ``--quick``: a first look (docs/reproducing.md has its measured time): a quarter of the
# training images and 1500 iterations, main and ablation.
QUICK_DATASETS: dict[str, tuple[Path, dict, tuple[str, ...]]] = {
    "fashion-mnist": (SPECS / "occlusion.yaml", {
        "data.train_size": 10000, "data.validation_fraction": 0.1, "data.test_size": 500,
        "training.iterations": 1500, "record.every": 300,
    }, ("main-bf16", "ablation")),
}  # fmt: skip
# Every member: one thread (members run side by side), a model kept per checkpoint, and
# uncentred halting: the protocol's main setting is the baseline of its centring test (the
# ``centred`` arm), which the shipped occlusion spec adopted after it.
COMMON = {"training.threads": 1, "record.keep_models": True, "lattice.halting_centred": False}


def arm_designs(raw: dict) -> dict[str, dict]:
    """Each arm's sweep block, around the dataset's spec ``raw`` (its weights and budget)."""
    costs = {name: float(raw["costs"][name]["weight"]) for name in ("breadth", "depth", "time")}
    main_time_weight, iterations = costs["time"], int(raw["training"]["iterations"])
    return {
        "main": {"points": [{"training.precision": "bf16"}, {"training.precision": "fp32"}], "seeds": [0, 1, 2]},
        "main-bf16": {"points": [{"training.precision": "bf16"}], "seeds": [0, 1, 2]},
        # a quarter and half the budget: the budget rule's chain below the main budget
        "quarter": {"points": [{"training.precision": PRECISION, "training.iterations": iterations // 4}], "seeds": [0, 1, 2]},
        "half": {"points": [{"training.precision": PRECISION, "training.iterations": iterations // 2}], "seeds": [0, 1, 2]},
        # twice the budget: does the verdict's evidence change when training goes on?
        "long": {"points": [{"training.precision": PRECISION, "training.iterations": 2 * iterations}], "seeds": [0, 1, 2]},
        "longer": {"points": [{"training.precision": PRECISION, "training.iterations": 4 * iterations}], "seeds": [0, 1, 2]},
        "ablation": {
            "points": [{"lattice.halting_reads_confidence": False, "training.precision": PRECISION}],
            "seeds": [0, 1, 2],
        },
        "centred": {
            "points": [{"lattice.halting_centred": True, "training.precision": PRECISION}],
            "seeds": [0, 1, 2],
        },
        "time-weight": {
            "points": [{"training.precision": PRECISION}],
            "grid": {"costs.time.weight": [round(main_time_weight * factor, 6) for factor in TIME_WEIGHT_FACTORS]},
            "seeds": [0, 1, 2],
        },
        # Findings 1 and 2, in a box whose maxima should not bind (resources, not models, kept):
        # the spec's cost weights, and each alone at PRESSURE_FACTOR x (one resource made dearer) ...
        "tradeoff": {
            "points": [{}] + [
                {f"costs.{name}.weight": round(w * PRESSURE_FACTOR, 6)} for name, w in costs.items()
            ],
            "seeds": [0, 1, 2],
        },
        # ... the spec's weights at half and twice the budget (the resource arms' budget rule) ...
        "tradeoff-half": {"points": [{"training.iterations": iterations // 2}], "seeds": [0, 1, 2]},
        "tradeoff-long": {"points": [{"training.iterations": 2 * iterations}], "seeds": [0, 1, 2]},
        "tradeoff-longer": {"points": [{"training.iterations": 4 * iterations}], "seeds": [0, 1, 2]},
        # ... and the task's complexity: classes and pixel noise, at the spec's weights.
        "complexity": {"grid": COMPLEXITY_GRID, "seeds": [0, 1, 2]},
    }  # fmt: skip


# Arms that show the budget chain beyond what the verdicts need (the verdicts read the main
# setting at its budget and at twice it): trained only when ``--arms`` names them.
DIAGNOSTIC_ARMS = ("longer", "quarter", "half", "tradeoff-half", "tradeoff-longer")
ARMS = ("main", "main-bf16", "quarter", "half", "ablation", "time-weight", "long", "longer",
        "centred", "tradeoff", "complexity", "tradeoff-half", "tradeoff-long", "tradeoff-longer",
        "ablation-tuned", "time-weight-tuned")  # fmt: skip
# findings 1 and 2: resources, no kept models
RESOURCE_ARMS = ("tradeoff", "complexity", "tradeoff-half", "tradeoff-long", "tradeoff-longer")
# The resource arms' base, on the dataset's: a box whose maxima are above what the pressures
# choose, a dearer depth, bf16, and the resources over training kept
# instead of models. At the occlusion spec's depth weight (0.02) every layer the box grew
# stayed active (digits: 5 of 5, the box bound); at 0.3 a probe on the training split (seed 0)
# used 3 layers of a 4-layer box, 21-24 of 32 channels and 3.1 of 6 steps.
RESOURCE_BASE = {
    "lattice.layers.max": 6, "lattice.channels.max": 48, "lattice.steps.max": 6,
    "costs.depth.weight": 0.3, "training.precision": PRECISION, "record.keep_models": False,
}  # fmt: skip
# The resource arms train this share of the dataset's main budget (digits: 3000 of 6000
# iterations; their budget rule checks it against twice as many). Set 2026-12-07: at 1500
# iterations (a quarter) the rule failed (steps -0.24 [-0.54, +0.06] on doubling).
RESOURCE_BUDGET_SHARE = 0.5
PRESSURE_FACTOR = 4.0  # the tradeoff arm's high level of each cost weight
COMPLEXITY_GRID = {"data.classes": [2, 10], "data.noise": [0.0, 0.3]}
TIME_WEIGHT_FACTORS = (0.3, 3.0)  # of the main weight: with it, a 10x range
# Arms that run 5 seeds (the issue: 5 where the budget allows), not their design's 3: digits'
# chain (rho moved -0.04 on doubling 12000 -> 24000, but 3 seeds gave intervals wider than the
# margins), and Fashion-MNIST's main setting and its check (partial rho's interval touched 0).
FIVE_SEEDS = {("digits", "main-bf16"), ("digits", "long"), ("digits", "longer"),
              ("fashion-mnist", "main"), ("fashion-mnist", "long")}  # fmt: skip


@dataclass(frozen=True)
class Arm:
    """One sweep of the competent protocol: an arm on one dataset."""

    dataset: str
    arm: str
    sweep: Sweep

    @property
    def name(self) -> str:
        """``<dataset>/competent-<arm>``: the sweep's directory under the protocol's folder."""
        return f"{self.dataset}/{self.sweep.name}"


def competent_arms(
    datasets: tuple[str, ...] | None = None, arms: tuple[str, ...] | None = None,
    table: dict[str, tuple[Path, dict, tuple[str, ...]]] | None = None, out: Path = Path("outputs/competent"),
) -> list[Arm]:  # fmt: skip
    """The protocol's sweeps, in the order they run (dataset by dataset; ``arms``: only
    these of each dataset's arms, else all but DIAGNOSTIC_ARMS); ``table`` replaces DATASETS
    (each dataset's base spec, settings and arms), e.g. for a small test protocol; ``out``:
    where the protocol's runs are (the fine-tuned arms start from networks there)."""
    table = table or DATASETS
    found = []
    for dataset in datasets or tuple(table):
        base_path, settings, dataset_arms = table[dataset]
        raw = with_overrides(yaml.safe_load(base_path.read_text()), {**settings, **COMMON})
        wanted = (
            [a for a in dataset_arms if a in arms]
            if arms is not None
            else [a for a in dataset_arms if a not in DIAGNOSTIC_ARMS]
        )
        for arm in wanted:
            base, design = raw, arm
            if arm in RESOURCE_ARMS:
                budget = round(int(raw["training"]["iterations"]) * RESOURCE_BUDGET_SHARE)
                base = with_overrides(raw, {**RESOURCE_BASE, "training.iterations": budget})
            if arm in TUNED_ARMS:
                backbone = next((a for a in BACKBONE_ARMS if a in dataset_arms), None)
                if backbone is None:
                    raise SpecError(f"{dataset}: the arm {arm} starts from the main setting's "
                                    f"networks, but the dataset runs none of {BACKBONE_ARMS}")  # fmt: skip
                base, design = (
                    tuned_base(
                        raw, Path(out).absolute() / dataset / f"competent-{backbone}", PRECISION
                    ),
                    arm[: -len(TUNED_SUFFIX)],
                )
            sweep = {
                **arm_designs(base)[design],
                **({"seeds": [0, 1, 2]} if arm in TUNED_ARMS else {}),
                **({"seeds": [0, 1, 2, 3, 4]} if (dataset, arm) in FIVE_SEEDS else {}),
            }
            spec = {**base, "name": f"competent-{arm}", "sweep": sweep}
            text = yaml.safe_dump(spec, sort_keys=False)
            found.append(
                Arm(
                    dataset,
                    arm,
                    parse_sweep(text, f"competent {dataset} {arm} (growsim reproduce)"),
                )
            )
    return found


def run_arms(
    arms: list[Arm], out: Path, workers: int | None = 2, scheduler: str | None = None,
    say: Callable[[str], None] = print, results: Path | None = None,
) -> list[str]:  # fmt: skip
    """Run (or resume) every arm's sweep in ``out``; the failures, as text. With ``results``,
    members whose per-run files are already there are not run again (so a protocol begun
    on another machine, whose runs are not here, goes on where it stopped)."""
    failed = []
    needed = _needed_backbones(arms, results)
    for arm in arms:
        members = [
            m for m in arm.sweep.members
            if not (results and collected(results, arm, m)) or (arm.name, m.name) in needed
        ]  # fmt: skip
        if not members:
            say(f"{arm.name}: all {len(arm.sweep.members)} runs already measured")
            continue
        say(f"{arm.name}: {len(members)} of {len(arm.sweep.members)} runs")
        sweep = dataclasses.replace(arm.sweep, members=members)
        outcomes = run_sweep(
            sweep, Path(out) / arm.dataset, workers=workers, scheduler=scheduler, progress=False
        )
        failed += [f"{arm.name}/{o.name}: {o.error}" for o in outcomes if o.status == "failed"]
    return failed


def _needed_backbones(arms: list[Arm], results: Path | None) -> set[tuple[str, str]]:
    """(arm name, member name) of the main runs whose networks the fine-tuned members still
    to run start from and that are not in ``out`` (e.g. measured on another machine: their
    per-run files are in ``results``, their networks are not); a SpecError when such a main
    run is not among ``arms``."""
    needed = set()
    offered = {(a.name, m.name) for a in arms for m in a.sweep.members}
    for arm in (a for a in arms if a.arm in TUNED_ARMS):
        for member in arm.sweep.members:
            if results and collected(results, arm, member):
                continue
            directory = Path(backbone_path(member.spec))
            if (directory / CHECKPOINT_NAME).exists():
                continue
            wanted = (f"{arm.dataset}/{directory.parent.name}", directory.name)
            if wanted not in offered:
                raise SpecError(
                    f"{arm.name}/{member.name} starts from the network of {wanted[0]}/{wanted[1]}, "
                    f"which is not in {directory.parent}: run that arm too (--arms "
                    f"{directory.parent.name.removeprefix('competent-')},{arm.arm})"
                )
            needed.add(wanted)
    return needed


def measure(arms: list[Arm], out: Path, results: Path, say: Callable[[str], None] = print) -> None:
    """Per dataset, the reference ensemble's difficulty (once, kept in ``results``); per
    finished run, its emergence measures (once: kept in the run directory), or for the
    resource arms (no kept models) its resources over training; then the small files of
    every run copied into ``results/<dataset>/<arm>/<member>/``."""
    for dataset in dict.fromkeys(a.dataset for a in arms):
        chosen = [a for a in arms if a.dataset == dataset]
        runs = [
            (arm, member, sweep_directory(arm.sweep, Path(out) / dataset) / member.name)
            for arm in chosen for member in arm.sweep.members
        ]  # fmt: skip
        finished = [r for r in runs if _finished(r[2], r[1].spec)]
        for arm, member, run_dir in finished:
            if not member.spec.record.keep_models:
                resources = run_resources(run_dir, member.spec)
                (run_dir / RESOURCES_NAME).write_text(json.dumps(resources, indent=1))
                _copy(results, arm, member, run_dir, (RESOURCES_NAME, SUMMARY_NAME, SPEC_NAME))
        emerging = [r for r in finished if r[1].spec.record.keep_models]
        if not emerging:
            continue
        spec = emerging[0][1].spec
        data = prepare_run_data(spec, load_dataset(spec.data, spec.data.seed), torch.device("cpu"))
        difficulty_path = Path(results) / dataset / DIFFICULTY_NAME
        if difficulty_path.exists():
            difficulty = ReferenceDifficulty.load(difficulty_path)
        else:
            say(f"{dataset}: training the reference ensemble")
            difficulty = reference_difficulty(data, spec)
            difficulty_path.parent.mkdir(parents=True, exist_ok=True)
            difficulty.save(difficulty_path)
        for arm, member, run_dir in emerging:
            if not (run_dir / EMERGENCE_NAME).exists():
                say(f"{arm.name}/{member.name}: measuring its checkpoints")
                member_spec = parse_stored_spec(
                    (run_dir / SPEC_NAME).read_text(), str(run_dir / SPEC_NAME)
                )
                run_emergence(run_dir, member_spec, data, difficulty.miss_probability("validation"))
            _copy(results, arm, member, run_dir, COPIED)


def run_resources(run_dir: Path, spec) -> dict:
    """A resource arm's run (of ``spec``) over training, from its trajectory: the resources
    (``trajectory_resources``) and clean validation accuracy at every checkpoint."""
    with xr.open_zarr(Path(run_dir) / TRAJECTORY_NAME, chunks=None) as trajectory:
        accuracy = trajectory.validation_accuracy.values.astype("float64").tolist()
    return {
        **trajectory_resources(Path(run_dir) / TRAJECTORY_NAME, spec),
        "validation_accuracy": accuracy,
    }


def _copy(results: Path, arm: Arm, member: SweepMember, run_dir: Path, names) -> None:
    """``names`` of ``run_dir`` into the results folder (the spec last: it marks them copied)."""
    target = Path(results) / arm.dataset / arm.arm / member.name
    target.mkdir(parents=True, exist_ok=True)
    (target / "member.json").write_text(json.dumps({"overrides": member.overrides}, indent=1))
    for name in names:
        shutil.copyfile(run_dir / name, target / name)


def collected(results: Path, arm: Arm, member: SweepMember) -> bool:
    """Whether ``member``'s per-run files are in ``results`` (measured and copied: its spec
    is copied last) and are of its spec (the quick protocol's members have the full
    protocol's names). The spec's name is not compared: it names the arm, and does not
    change what is trained; nor is where a fine-tuned member's backbone lay
    (``training.init_from``: the protocol's folder, which another machine names otherwise)."""
    spec_path = Path(results) / arm.dataset / arm.arm / member.name / SPEC_NAME
    if not spec_path.exists():
        return False
    stored = parse_stored_spec(spec_path.read_text(), str(spec_path))
    training = dataclasses.replace(stored.training, init_from=member.spec.training.init_from)
    renamed = dataclasses.replace(stored, name=member.spec.name, training=training)
    return experiment_text(renamed) == experiment_text(member.spec)


def _finished(run_dir: Path, spec) -> bool:
    return (
        (run_dir / SUMMARY_NAME).exists()
        and (run_dir / PER_IMAGE_NAME).exists()
        and (not spec.record.keep_models or (run_dir / MODELS_DIRECTORY).is_dir())
    )
