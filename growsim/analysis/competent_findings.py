"""Findings 3 and 4 on competent networks, from the small per-run files of the competent
protocol (growsim.reproduce.competent): the seed is the unit of inference.

A verdict is decided only where the dataset's main setting has stopped moving, at the
setting's budget, on the measures the verdict rests on (VERDICT_MEASURES; the budget rule of
``growsim.analysis.budget``); ``competence`` (the last 20% of a run) is shown, not used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from growsim.analysis.budget import BudgetCheck, doubling_check
from growsim.analysis.difficulty import ReferenceDifficulty
from growsim.analysis.emergence import (
    partial_spearman,
    stopped_moving,
)
from growsim.analysis.statistics import (
    EQUIVALENCE_MARGIN,
    Correlation,
    LevelIncrease,
    MeanInterval,
    bootstrap_spearman,
    increases_by_level,
    mean_interval,
    spearman,
)
from growsim.files import (
    DIFFICULTY_NAME,
    EMERGENCE_NAME,
    FINAL_OUTPUTS_NAME,
    SPEC_NAME,
    SUMMARY_NAME,
)
from growsim.spec import parse_stored_spec

# The measures a run must have stopped moving on before a verdict uses it ...
COMPETENCE_MEASURES = (
    "validation_accuracy",
    "steps_added",
    "difficulty_rho",
    "difficulty_partial_rho",
)
# ... and which of them each verdict rests on (accuracy, and the finding's own measure).
VERDICT_MEASURES = {
    "finding 3": ("validation_accuracy", "steps_added"),
    "finding 4": ("validation_accuracy", "difficulty_rho"),
    "beyond own confidence": ("validation_accuracy", "difficulty_partial_rho"),
}


@dataclass(frozen=True)
class CompetentRun:
    """One finished run of the protocol, as its small files hold it."""

    dataset: str
    arm: str
    name: str
    seed: int
    precision: str
    time_weight: float
    reads_confidence: bool
    iterations: int
    centred: bool  # lattice.halting_centred
    emergence: dict
    summary: dict
    test_steps: np.ndarray  # (level, image): expected steps of the final model
    test_confidence: np.ndarray  # (level, image): its max class probability
    test_correct: np.ndarray  # (level, image)

    @property
    def setting(self) -> tuple:
        """What the run's arm varies, without the seed."""
        return (
            self.arm, self.precision, self.time_weight, self.reads_confidence, self.iterations,
            self.centred,
        )  # fmt: skip

    def curve(self, measure: str) -> np.ndarray:
        """A measure over the run's checkpoints (steps added, learned or the objective's: at
        the highest level)."""
        values = self.emergence["measures"][measure]
        if measure in ("steps_added", "objective_steps_added"):
            return np.asarray([row[-1] for row in values], dtype="float64")
        return np.asarray(values, dtype="float64")


def load_runs(results: Path) -> tuple[list[CompetentRun], dict[str, ReferenceDifficulty]]:
    """Every run under ``results/<dataset>/<arm>/<member>/`` and each dataset's difficulty."""
    runs, difficulty = [], {}
    for dataset_dir in sorted(p for p in Path(results).iterdir() if p.is_dir()):
        if (dataset_dir / DIFFICULTY_NAME).exists():
            difficulty[dataset_dir.name] = ReferenceDifficulty.load(dataset_dir / DIFFICULTY_NAME)
        for emergence_path in sorted(dataset_dir.glob(f"*/*/{EMERGENCE_NAME}")):
            run_dir = emergence_path.parent
            spec = parse_stored_spec((run_dir / SPEC_NAME).read_text(), str(run_dir / SPEC_NAME))
            with np.load(run_dir / FINAL_OUTPUTS_NAME) as outputs:
                steps, confidence, correct = (
                    outputs[f"test_{n}"] for n in ("expected_steps", "confidence", "correct")
                )
            runs.append(CompetentRun(
                dataset_dir.name, run_dir.parent.name, run_dir.name, spec.training.seed,
                spec.training.precision, spec.costs.time.weight, spec.lattice.halting_reads_confidence,
                spec.training.iterations, spec.lattice.halting_centred,
                json.loads(emergence_path.read_text()), json.loads((run_dir / SUMMARY_NAME).read_text()),
                steps, confidence, correct,
            ))  # fmt: skip
    return runs, difficulty


def by_setting(runs: list[CompetentRun]) -> dict[tuple, list[CompetentRun]]:
    """Runs grouped by (dataset, setting), each group in seed order."""
    groups: dict[tuple, list[CompetentRun]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        groups.setdefault((run.dataset, *run.setting), []).append(run)
    return groups


TAIL_SHARE = 0.2  # the tail rule looks at this share of training, at its end
AGREEMENT_TOLERANCE = 0.05  # steps: the learned allocation agrees with the objective's


def competence(runs: list[CompetentRun], tail: float = TAIL_SHARE) -> dict[str, list[bool]]:
    """Per measure of COMPETENCE_MEASURES, per run (seed order): has it stopped moving over
    the last ``tail`` of training? Needs two runs or more of one setting."""
    iterations = runs[0].emergence["iterations"]
    total = runs[0].emergence["total_iterations"]
    return {
        measure: stopped_moving(
            np.stack([r.curve(measure) for r in runs]), iterations, total, tail
        ).tolist()
        for measure in COMPETENCE_MEASURES
    }


@dataclass(frozen=True)
class OcclusionEffect:
    """Finding 3 in one setting: steps added at the highest occlusion level on test images."""

    level: float
    across_seeds: MeanInterval  # per-seed mean (steps occluded - steps clean)
    per_run: list[tuple[int, LevelIncrease]]  # (seed, image-level interval at the highest level)


def occlusion_effect(runs: list[CompetentRun], levels: list[float]) -> OcclusionEffect:
    """Steps added at the highest level, per seed (test images), with the image-level
    interval of each run."""
    per_run = [(r.seed, increases_by_level(r.test_steps, levels)[-1]) for r in runs]
    return OcclusionEffect(
        levels[-1], mean_interval([i.mean_difference for _, i in per_run]), per_run
    )


@dataclass(frozen=True)
class DifficultyEffect:
    """Finding 4 in one setting: clean test images' expected steps against the reference
    ensemble's miss probability, and the same controlling for the network's confidence."""

    rho: MeanInterval  # across seeds
    partial_rho: MeanInterval  # across seeds, controlling for the network's own confidence
    confidence_rho: (
        MeanInterval  # across seeds: steps against the network's own miss (1 - confidence)
    )
    per_run: list[
        tuple[int, Correlation, float]
    ]  # (seed, image-level rho with its interval, partial rho)


def difficulty_effect(
    runs: list[CompetentRun], difficulty: ReferenceDifficulty
) -> DifficultyEffect:
    """Finding 4 per seed on clean test images."""
    miss = difficulty.miss_probability("test")[0]
    per_run, rhos, partials, own = [], [], [], []
    for run in runs:
        steps, confidence = run.test_steps[0], run.test_confidence[0]
        correlation = bootstrap_spearman(miss, steps, resamples=1000)
        partial = partial_spearman(steps, miss, confidence)
        per_run.append((run.seed, correlation, partial))
        rhos.append(correlation.rho)
        partials.append(partial)
        own.append(spearman(1.0 - confidence, steps))
    return DifficultyEffect(
        mean_interval(rhos), mean_interval(partials), mean_interval(own), per_run
    )


def verdict(interval: MeanInterval, competent: bool, expected_sign: int = 1) -> str:
    """``holds`` when the across-seed interval excludes 0 on the expected side, ``does not
    hold`` when it excludes 0 on the other side, else ``not decided``; and ``not decided
    at this budget`` unless ``competent`` (the budget rule holds for the verdict's measures)
    and 2 seeds or more ran."""
    if interval.n < 2 or not competent:
        return "not decided at this budget"
    low, high = interval.low * expected_sign, interval.high * expected_sign
    if expected_sign < 0:
        low, high = high, low
    if low > 0:
        return "holds"
    if high < 0:
        return "does not hold"
    return "not decided (the across-seed interval includes 0)"


def appears_at(runs: list[CompetentRun], measure: str) -> int | None:
    """The first checkpoint iteration from which the across-seed 95% interval of
    ``measure`` stays above 0 to the end of training (None: it never does)."""
    curves = np.stack([r.curve(measure) for r in runs])
    iterations = runs[0].emergence["iterations"]
    above = [
        mean_interval(curves[:, i]).low > 0 if len(runs) > 1 else False
        for i in range(curves.shape[1])
    ]
    first = None
    for iteration, ok in zip(iterations, above):
        if ok and first is None:
            first = iteration
        elif not ok:
            first = None
    return first


def over_shared_seeds(
    a: list[CompetentRun], b: list[CompetentRun]
) -> tuple[list[CompetentRun], list[CompetentRun]]:
    """``a`` and ``b`` cut to the seeds both ran, where two or more did (else as they are)."""
    shared = {r.seed for r in a} & {r.seed for r in b}
    if len(shared) < 2:
        return a, b
    return [r for r in a if r.seed in shared], [r for r in b if r.seed in shared]


@dataclass(frozen=True)
class PrecisionComparison:
    """bf16 against fp32 on the main arm: the equivalence check of each measure's final value
    (bf16 - fp32, paired over the seeds both ran, 90% interval within STOPPED_MARGINS) and
    the training-time ratio."""

    check: BudgetCheck  # at_budget: fp32, at_double: bf16, change: bf16 - fp32
    seconds_ratio: float  # fp32 / bf16 mean training seconds

    def agrees(self) -> bool:
        """Every measure's bf16 - fp32 difference equivalent to 0 within its margin."""
        return self.check.stable()


def precision_comparison(bf16: list[CompetentRun], fp32: list[CompetentRun]) -> PrecisionComparison:
    """COMPETENCE_MEASURES (final checkpoint, validation images) in bf16 against fp32, by the
    budget rule's equivalence test and margins, and the training-time ratio (both over the
    seeds both ran, where two or more did)."""
    bf16, fp32 = over_shared_seeds(bf16, fp32)
    seconds = [
        np.mean([r.summary["time_spent"]["training"] for r in group]) for group in (bf16, fp32)
    ]
    return PrecisionComparison(budget_check(fp32, bf16), float(seconds[1] / seconds[0]))


# Each measure's margin for "stopped moving" (growsim.analysis.budget): accuracy, finding 1's
# margin (2 points); steps added and rho, a tenth of a step and a tenth on the correlation's
# scale; the partial rho, whose effects are smaller, 0.05. Set on 2026-12-06, after the
# runs up to then had been seen; the stricter rule they replace (every change within one
# pooled seed sd) is still shown beside it.
STOPPED_MARGINS = {
    "validation_accuracy": EQUIVALENCE_MARGIN, "steps_added": 0.1, "difficulty_rho": 0.1,
    "difficulty_partial_rho": 0.05,
}  # fmt: skip


def budget_check(runs: list[CompetentRun], longer: list[CompetentRun]) -> BudgetCheck:
    """Final values of COMPETENCE_MEASURES in ``runs`` against the same setting trained
    twice as long (``longer``); both need two seeds or more."""
    return doubling_check({
        measure: ({r.seed: r.curve(measure)[-1] for r in runs},
                  {r.seed: r.curve(measure)[-1] for r in longer})
        for measure in COMPETENCE_MEASURES
    }, STOPPED_MARGINS)  # fmt: skip


# An arm fine-tuned from the main setting's final networks (only halting trains) is named as
# the from-scratch arm it stands in for, with this suffix (growsim.reproduce.competent).
TUNED_SUFFIX = "-tuned"


TUNED_MIN_SEEDS = 3  # seeds a fine-tuned arm must share with its twin to be tested


def tuned_checks(
    groups: dict[tuple, list[CompetentRun]],
) -> dict[tuple, tuple[tuple, BudgetCheck | None]]:
    """Each fine-tuned setting of ``groups`` (``by_setting``) against the from-scratch
    setting it stands in for (its arm without TUNED_SUFFIX; the same dataset, precision,
    time weight, confidence reading and centring): ``{tuned key: (scratch key, check)}``, the
    check of the final validation values of COMPETENCE_MEASURES over the seeds both ran
    (fine-tuned - from scratch, paired) within STOPPED_MARGINS; None where they share fewer
    than TUNED_MIN_SEEDS seeds. Where every measure is equivalent, fine-tuning gives the
    effect of training from scratch."""
    found = {}
    for key, tuned in groups.items():
        if not key[1].endswith(TUNED_SUFFIX):
            continue
        twin = (key[0], key[1][: -len(TUNED_SUFFIX)], *key[2:5])
        for other, scratch in groups.items():
            if other[:5] != twin or other[6:] != key[6:]:
                continue
            shared = {r.seed for r in tuned} & {r.seed for r in scratch}
            check = None
            if len(shared) >= TUNED_MIN_SEEDS:
                check = budget_check(
                    [r for r in scratch if r.seed in shared], [r for r in tuned if r.seed in shared]
                )
            found[key] = (other, check)
    return found


def backbone_record(tuned: list[CompetentRun], backbones: list[CompetentRun]) -> tuple[int, int]:
    """How many of the fine-tuned ``tuned`` runs recorded the run they started from
    (``backbone_run_id``), and how many of those started from the run of ``backbones`` (the
    main setting's, as the page shows it) of their seed."""
    ids = {r.seed: r.summary.get("run_id") for r in backbones}
    recorded = [r for r in tuned if r.summary.get("backbone_run_id")]
    return len(recorded), sum(r.summary["backbone_run_id"] == ids.get(r.seed) for r in recorded)


def budget_chain(runs_by_budget: dict[int, list[CompetentRun]]) -> dict[int, BudgetCheck]:
    """For each budget B whose setting also ran at 2B (two seeds or more at both), the
    budget rule's check of B: ``{B: budget_check(runs at B, runs at 2B)}``."""
    return {
        budget: budget_check(runs, runs_by_budget[2 * budget])
        for budget, runs in sorted(runs_by_budget.items())
        if len(runs) > 1 and len(runs_by_budget.get(2 * budget, [])) > 1
    }


@dataclass(frozen=True)
class CentringTest:
    """The centring hypothesis: does halting centred on running means agree earlier with
    the objective's own allocation, with validation accuracy held?"""

    agrees_from: tuple[int | None, int | None]  # (uncentred, centred); None: never
    final_agreement: tuple[float, float]  # across-seed mean, learned - objective steps added
    accuracy: tuple[float, float]  # final validation accuracy, seed means
    accuracy_sd: float  # pooled seed-to-seed sd of the final validation accuracy
    seeds: tuple[int, int]  # the runs compared: (uncentred, centred)

    def earlier(self) -> bool:
        """Centred agrees within the tolerance, and before uncentred does (or uncentred never)."""
        plain, centred = self.agrees_from
        return centred is not None and (plain is None or centred < plain)

    def accuracy_holds(self) -> bool:
        """Centred validation accuracy is not lower by more than one seed sd."""
        return self.accuracy[1] - self.accuracy[0] >= -self.accuracy_sd

    def keep(self) -> bool:
        """The issue's rule for keeping the change: earlier agreement and accuracy held."""
        return self.earlier() and self.accuracy_holds()


def centring_test(plain: list[CompetentRun], centred: list[CompetentRun]) -> CentringTest:
    """Uncentred (``plain``) against centred halting, same budget and precision, over the
    seeds both ran (``over_shared_seeds``)."""
    plain, centred = over_shared_seeds(plain, centred)
    accuracy = [np.array([r.curve("validation_accuracy")[-1] for r in g]) for g in (plain, centred)]
    return CentringTest(
        (agrees_from(plain), agrees_from(centred)),
        tuple(float(np.mean([r.curve("agreement")[-1] for r in g])) for g in (plain, centred)),
        (float(accuracy[0].mean()), float(accuracy[1].mean())),
        float(np.sqrt((accuracy[0].var(ddof=1) + accuracy[1].var(ddof=1)) / 2)),
        (len(plain), len(centred)),
    )


def agrees_from(runs: list[CompetentRun], tolerance: float = AGREEMENT_TOLERANCE) -> int | None:
    """The first checkpoint iteration from which the across-seed mean of |``agreement``| (the
    learned minus the objective's steps added at the highest level, per seed) stays within
    ``tolerance`` steps to the end (None: it never does; a NaN checkpoint does not agree)."""
    mean = np.mean([np.abs(r.curve("agreement")) for r in runs], axis=0)
    first = None
    for iteration, value in zip(
        runs[0].emergence["iterations"][1:], mean[1:]
    ):  # iteration 0: untrained
        agrees = bool(value <= tolerance)  # False for NaN
        if agrees and first is None:
            first = iteration
        elif not agrees:
            first = None
    return first
