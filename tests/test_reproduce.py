"""``growsim reproduce`` end to end on a tiny base spec (the quick variant's design on one
small dataset), and the statistics the results page rests on."""

import json

import numpy as np
import pytest
import yaml

from growsim.analysis.reproduction import (
    RunRecord,
    complexity_finding,
    substitution_pairs,
    summarise_settings,
    tradeoff_finding,
)
from growsim.analysis.reproduction_time import RunTime, difficulty_correlations, difficulty_summary
from growsim.analysis.statistics import MeanInterval, increases_by_level
from growsim.analysis.surface import fit_surface
from growsim.cli import main
from growsim.reproduce import experiments as design
from growsim.reproduce.findings import learned
from growsim.reproduce.page import (
    difficulty_direction,
    growth_verdict,
    occlusion_verdict,
    tradeoff_verdict,
)

TINY_BASE = """
name: reproduce
lattice:
  layers: {initial: 1, max: 2}
  channels: {initial: 4, max: 6}
  steps: {initial: 2, max: 3}
  input_stride: 2
costs:
  breadth: {weight: 0.005}
  depth: {weight: 0.05}
  time: {weight: 0.05}
growth: {channels: 2, layers: 1, steps: 1, wait_for_costs: false}
data:
  dataset: shapes
  occlusion: {levels: [0.0, 0.3], train: true, patch_size: 4}
training:
  lr: 0.01
  batch_size: 32
  iterations: 20
  threads: 1
record:
  every: 10
  occluded_every: 2
  validation_size: 20
"""


MIDDLE = {"costs.breadth.weight": 0.005, "costs.depth.weight": 0.05, "costs.time.weight": 0.05}


def test_the_designs_hold_three_seeds_or_one_and_a_latin_square_of_the_weights():
    full, quick = design.experiments(), design.experiments(quick=True)
    assert sum(len(e.sweep.members) for e in full) == 204  # 2 datasets x (27 + 6 + 1) x 3 seeds
    assert sum(len(e.sweep.members) for e in quick) == 28  # 2 datasets x (9 + 4 + 1)
    assert {e.name for e in full} == {f"{x}-{d}" for x in ("tradeoff", "complexity", "ablation")
                                      for d in ("shapes", "fashion-mnist")}  # fmt: skip
    tradeoff = next(e for e in quick if e.name == "tradeoff-shapes").sweep
    weights = {tuple(m.overrides[k] for k in design.TRADEOFF_GRID) for m in tradeoff.members}
    assert len(weights) == 9 and tuple(MIDDLE.values()) in weights  # a Latin square
    for k, values in enumerate(design.TRADEOFF_GRID.values()):
        assert sorted(w[k] for w in weights) == sorted(3 * values)
    assert {m.overrides["training.seed"] for m in tradeoff.members} == {0}


@pytest.fixture(scope="module")
def quick_reproduction(tmp_path_factory):
    """(out, results page) of ``growsim reproduce --quick`` on the tiny base, one dataset."""
    root = tmp_path_factory.mktemp("reproduce")
    base = root / "base.yaml"
    base.write_text(TINY_BASE)
    patch = pytest.MonkeyPatch()
    patch.setattr(design, "BASE_SPEC", base)
    patch.setattr(design, "DATASETS", {"shapes": {
        "data.classes": 3, "data.image_size": 12, "data.train_size": 200, "data.test_size": 40,
    }})  # fmt: skip
    patch.setattr(design, "QUICK_DESIGNS", {  # the middle weights and two corners of the grid
        "tradeoff": {"points": [MIDDLE, {**MIDDLE, "costs.time.weight": 0.2}, {**MIDDLE, "costs.depth.weight": 0.2}]},
        "complexity": {"grid": {"data.classes": [2, 3], "data.noise": [0.0, 0.3]}},
    })  # fmt: skip
    try:
        out, results = root / "out", root / "results.md"
        argv = [
            "reproduce",
            "--quick",
            "--out",
            str(out),
            "--results",
            str(results),
            "--no-progress",
        ]
        assert main(argv) == 0
        first = results.read_text()
        assert main(argv) == 0  # again: every run is kept, the page is written anew
    finally:
        patch.undo()
    return out, results, first


def test_quick_reproduction_runs_every_experiment_and_writes_the_page(quick_reproduction):
    out, results, first = quick_reproduction
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["ablation-shapes", "complexity-shapes", "tradeoff-shapes"]
    counts = {n: len(json.loads((out / n / "sweep.json").read_text())["members"]) for n in names}
    assert counts == {"ablation-shapes": 1, "complexity-shapes": 4, "tradeoff-shapes": 3}
    tradeoff = yaml.safe_load((out / "tradeoff-shapes" / "sweep.yaml").read_text())
    assert tradeoff["training"]["iterations"] == 20 and tradeoff["sweep"]["seeds"] == [0]
    ablation = yaml.safe_load((out / "ablation-shapes" / "sweep.yaml").read_text())
    assert ablation["sweep"]["points"] == [{"lattice.halting_reads_confidence": False}]
    page = results.read_text()
    for heading in ("## Finding 1", "## Finding 2", "## Finding 3", "## Finding 4"):
        assert heading in page
    assert "Runs: 8 finished of 8" in page
    assert "Fit: none, 3 runs are fewer than the quadratic's 10 coefficients" in page
    assert (
        "| time weight |" in page
        and "| with confidence | 0 |" in page
        and "| ablation | 0 |" in page
    )
    assert (results.parent / "results-figures" / "speed-shapes.png").exists()
    log = json.loads((out / "invocations.json").read_text())
    assert [entry["runs_trained"] for entry in log] == [8, 0]  # the second run trained nothing
    strip = lambda text: [line for line in text.splitlines() if "Wall time" not in line]  # noqa: E731
    assert strip(first) == strip(page)  # the same runs give the same page


def test_a_quadratic_surface_recovers_known_substitution_rates():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, (40, 3))
    accuracy = 0.5 + 0.1 * x[:, 0] + 0.05 * x[:, 1] - 0.02 * x[:, 0] * x[:, 2] + 0.03 * x[:, 2] ** 2
    surface = fit_surface(x, accuracy)
    at = np.array([1.0, 1.0, 1.0])
    assert np.allclose(surface.gradient(at), [0.08, 0.05, 0.04])  # by hand at (1, 1, 1)
    assert surface.substitution(at, 0, 1) == pytest.approx(-0.08 / 0.05)
    # at a point whose coordinates differ, so that x_i and x_j cannot stand in for each other
    assert np.allclose(surface.gradient(np.array([1.0, 2.0, 0.5])), [0.09, 0.05, 0.01])
    assert surface.substitution(np.array([1.0, 2.0, 0.5]), 2, 0) == pytest.approx(-0.01 / 0.09)
    with pytest.raises(ValueError, match="at least 10 runs"):
        fit_surface(x[:9], accuracy[:9])
    x[:, 1] = 3.0  # every run kept 3 layers: depth's terms are left out, its rates undefined
    surface = fit_surface(x, accuracy - 0.05 * 2)
    assert surface.varies.tolist() == [True, False, True] and surface.full_rank
    assert np.isnan(surface.substitution(at, 0, 1)) and np.isfinite(surface.substitution(at, 0, 2))


def test_occlusion_increases_resample_images_and_are_holm_adjusted():
    rng = np.random.default_rng(1)
    clean = rng.normal(2.0, 0.3, 400)
    steps = np.stack(
        [clean, clean + 0.1 + rng.normal(0, 0.05, 400), clean + rng.normal(0, 0.05, 400)]
    )
    rise, flat = increases_by_level(steps, [0.0, 0.3, 0.6], resamples=500)
    assert (rise.level, flat.level) == (0.3, 0.6)  # each occluded level against clean
    assert rise.low > 0.09 and rise.high < 0.11 and rise.p_holm < 1e-6
    assert flat.low < 0 < flat.high
    # Holm over the two levels: the smaller p doubled, the larger kept (never below it)
    assert rise.p_holm == pytest.approx(2 * rise.p_value)
    assert flat.p_holm == pytest.approx(max(flat.p_value, 2 * rise.p_value))
    assert rise.images == flat.images == 400


def test_an_occlusion_interval_is_that_of_the_mean_paired_difference_over_images():
    # clean steps vary much more over images (std 0.5) than the lift occlusion adds (std
    # 0.4): resampling clean and occluded images apart would about double the interval
    rng = np.random.default_rng(2)
    clean = rng.normal(2.0, 0.5, 300)
    lifts = rng.normal(0.2, 0.4, 300)
    steps = np.stack([clean, clean + lifts, clean + lifts])
    first, _ = increases_by_level(steps, [0.0, 0.3, 0.6], resamples=2000)
    standard_error = lifts.std(ddof=1) / np.sqrt(300)
    assert first.high - first.low == pytest.approx(2 * 1.96 * standard_error, rel=0.15)


def _record(setting, seed, validation, width=8.0, depth=2.0, steps=2.0):
    return RunRecord(
        f"{setting}-{seed}", None, setting, seed, validation, validation, width, depth, steps
    )


def test_complexity_correlations_are_taken_per_seed_and_count_a_constant_resource():
    records = [
        _record((classes, noise), seed, 0.9, width=4.0 + classes + seed, depth=2.0, steps=3.0 - 0.1 * classes)
        for seed in range(3) for classes in (2, 5, 10) for noise in (0.0, 0.3)
    ]  # fmt: skip
    found = complexity_finding(records, ["data.classes", "data.noise"])
    width = found.correlations[("data.classes", "width")]
    assert width.n == 3 and width.mean == pytest.approx(1.0) and width.high <= 1.0
    assert found.correlations[("data.classes", "steps")].mean == pytest.approx(-1.0)
    assert found.correlations[("data.noise", "width")].mean == pytest.approx(0.0)  # noise-blind
    assert found.undefined[("data.classes", "depth")] == 3  # depth constant in every seed
    assert ("data.classes", "depth") not in found.correlations
    pooled = found.pooled[("data.classes", "width")]  # every run, bootstrap over runs
    assert pooled.n == 18 and 0.8 < pooled.rho < 1 and pooled.low > 0.5
    assert ("data.classes", "depth") not in found.pooled
    assert found.runs == 18 and found.seeds == 3


def test_a_run_whose_steps_never_vary_is_left_out_of_the_difficulty_summary():
    def run_time(seed, rho):
        return RunTime(_record((0,), seed, 0.8), np.array([0.0]), [], 0.0, rho, 100)

    summary = difficulty_summary(
        [run_time(0, 0.3), run_time(0, np.nan), run_time(1, 0.35), run_time(2, 0.32)]
    )
    assert summary.undefined == 1 and summary.runs == 4 and summary.positive == 3
    assert summary.rho.mean == pytest.approx((0.3 + 0.35 + 0.32) / 3) and summary.rho.n == 3


def test_the_pooled_difficulty_correlation_resamples_whole_images(tmp_path):
    import xarray as xr

    rng = np.random.default_rng(3)
    miss = rng.uniform(0, 1, (3, 200))
    steps = 1 + miss + rng.normal(0, 0.2, (3, 200))
    run_dir = tmp_path / "run"
    xr.Dataset({"expected_steps": (("occlusion", "image"), steps),
                "reference_true_class_probability": (("occlusion", "image"), 1 - miss)},
               coords={"occlusion": [0.0, 0.3, 0.6]}).to_zarr(run_dir / "per_image.zarr")  # fmt: skip
    record = RunRecord("r", run_dir, (0,), 0, 0.8, 0.8, 8.0, 2.0, 2.0)
    clean, pooled = difficulty_correlations(record, resamples=200)
    assert clean.n == 200 and clean.clusters is None
    assert pooled.n == 600 and pooled.clusters == 200
    assert clean.low < clean.rho < clean.high and pooled.rho > 0.5


def test_a_complexity_setting_learned_only_when_clearly_above_chance():
    def setting(classes, validation):
        return summarise_settings(
            [_record((classes, 0.0), s, validation + 0.001 * s) for s in range(3)]
        )[0]

    assert not learned(setting(2, 0.52)) and learned(setting(2, 0.56))
    assert not learned(setting(10, 0.14)) and learned(setting(10, 0.2))


def test_pairs_need_agreeing_accuracy_and_clearly_different_mixes():
    def runs(setting, accuracy, width, steps):
        return [RunRecord(f"{setting}-{s}", None, setting, s, accuracy + 0.002 * s, accuracy,
                          width + 0.1 * s, 2.0, steps + 0.01 * s) for s in range(3)]  # fmt: skip

    wide = runs((1,), 0.80, width=12, steps=2.0)
    slow = runs((2,), 0.80, width=6, steps=3.5)
    worse = runs((3,), 0.60, width=6, steps=3.5)
    pairs = substitution_pairs(summarise_settings(wide + slow + worse))
    assert [(p.first.setting, p.second.setting, p.first_more, p.second_more) for p in pairs] == [
        ((1,), (2,), (0,), (2,))
    ]

    def spread(setting, accuracy, step):  # validation accuracy accuracy, +step, +2 step
        return [RunRecord(f"{setting}-{s}", None, setting, s, accuracy + step * s, accuracy, 6.0 + 0.1 * s,
                          2.0, 3.5 + 0.01 * s) for s in range(3)]  # fmt: skip

    # overlapping intervals (wide spread over seeds), but the means 4.8 points apart
    assert substitution_pairs(summarise_settings(wide + spread((4,), 0.83, 0.02))) == []
    # means 1.4 points apart, but intervals that do not overlap
    assert substitution_pairs(summarise_settings(wide + spread((5,), 0.815, 0.0005))) == []
    # a setting left with one seed has no interval to be clearly apart from
    assert substitution_pairs(summarise_settings(wide + slow[:1])) == []
    assert len(substitution_pairs(summarise_settings(wide + slow[:2]))) == 1


def _interval(mean, low, high, n=3):
    return MeanInterval(mean, low, high, n, 0.95)


def test_verdicts_follow_the_intervals_and_one_seed_decides_nothing():
    assert growth_verdict(_interval(0.8, 0.5, 1.0)) == "grows with"
    assert growth_verdict(_interval(-0.8, -1.0, -0.5)) == "falls (the opposite) with"
    assert growth_verdict(_interval(0.3, -0.2, 0.8)) == "does not clearly grow with"
    assert growth_verdict(_interval(0.8, 0.8, 0.8, n=1)).startswith("is not decided")
    assert growth_verdict(None) == "did not vary with"
    # three seeds agreeing on a weak rho make a point interval: the pooled runs must agree
    from growsim.analysis.statistics import Correlation

    weak = Correlation(0.1, -0.4, 0.55, 18, 0.95)
    assert growth_verdict(_interval(0.1, 0.1, 0.1), weak) == "does not clearly grow with"
    assert (
        growth_verdict(_interval(0.6, 0.6, 0.6), Correlation(0.6, 0.2, 0.85, 18, 0.95))
        == "grows with"
    )
    assert difficulty_direction(_interval(0.3, 0.1, 0.5)).startswith("rises")
    assert "opposite" in difficulty_direction(_interval(-0.3, -0.5, -0.1))
    assert difficulty_direction(_interval(0.3, 0.3, 0.3, n=1)).startswith("is not decided")

    from growsim.analysis.reproduction_time import WeightEffect

    def effect(weight, low, high, n=3):
        return WeightEffect(weight, 0.6, _interval((low + high) / 2, low, high, n), 0, 9)

    text = occlusion_verdict(
        [effect(0.01, 0.1, 0.3), effect(0.05, -0.1, 0.2), effect(0.2, -0.4, -0.1)], "d"
    )
    assert "holds across seeds at time weights 0.01 of 0.01, 0.05, 0.2" in text
    assert "At 0.2 occluded images get clearly fewer steps" in text
    assert "not decided at this budget" in occlusion_verdict([effect(0.05, -0.1, 0.2)], "d")
    assert "does not hold" not in occlusion_verdict([effect(0.05, -0.1, 0.2)], "d")
    assert occlusion_verdict([effect(0.05, 0.1, 0.3, n=1)], "d").startswith("**Not decided")


def test_runs_without_occluded_test_sets_leave_finding_3_unmeasured():
    from growsim.analysis.reproduction_time import RunTime, effect_by_weight

    times = [RunTime(_record((0.0, 0.0, w), s, 0.8), np.array([0.0]), [], 0.5, 0.1, 100)
             for w in (0.01, 0.1) for s in (0, 1)]  # fmt: skip
    assert not times[0].holds_at_top()
    assert effect_by_weight(times, 2) == []
    assert (
        occlusion_verdict([], "d") == "**Not measured on d**: its test sets have no occluded level."
    )


def test_the_tradeoff_verdict_needs_two_seeds_and_names_clear_substitutes():
    rng = np.random.default_rng(4)
    records = []
    for seed in range(3):
        for k in range(12):
            width, steps = rng.uniform(6, 16), rng.uniform(1, 4)
            accuracy = 0.3 + 0.02 * width + 0.05 * steps + rng.normal(0, 0.002)
            records.append(
                _record((k,), seed, accuracy, width=width, depth=2.0 + k % 2, steps=steps)
            )
    finding = tradeoff_finding(records)
    rate = finding.substitution_rates[(0, 2)]  # width -> steps: -0.02 / 0.05
    assert rate.n == 3 and rate.low < -0.4 < rate.high < 0
    text = tradeoff_verdict(finding, "d")
    assert "width and steps substitute" in text
    one_seed = tradeoff_finding([r for r in records if r.seed == 0])
    assert tradeoff_verdict(one_seed, "d").startswith("**Not decided")
