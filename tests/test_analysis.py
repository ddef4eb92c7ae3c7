"""Statistics against scipy, and the analyses on constructed per-image data."""

import numpy as np
import pytest
import scipy.stats
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from growsim.analysis.findings import (
    equal_accuracy_band,
    occlusion_effect,
    pareto_front,
    time_difficulty,
    time_spread,
)
from growsim.analysis.reaction_times import match_reaction_times, read_reaction_times
from growsim.analysis.statistics import (
    average_ranks,
    bootstrap_spearman,
    mean_interval,
    paired_increase,
    spearman,
)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.floats(-100, 100)), min_size=3, max_size=60))
def test_spearman_matches_scipy(pairs):
    x, y = np.asarray(pairs, dtype=float).T  # integers: many ties
    ours = spearman(x, y)
    theirs = scipy.stats.spearmanr(x, y).statistic
    if np.isnan(theirs):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_average_ranks_match_scipy():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_allclose(average_ranks(values), scipy.stats.rankdata(values))


def test_bootstrap_interval_covers_the_truth_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small_x = rng.normal(size=100)
    small = bootstrap_spearman(small_x, small_x + rng.normal(size=100), resamples=500)
    big_x = rng.normal(size=2000)
    big = bootstrap_spearman(big_x, big_x + rng.normal(size=2000), resamples=500)
    truth = 6 / np.pi * np.arcsin(np.sqrt(0.5) / 2)  # Spearman of a bivariate normal, r = 1/sqrt(2)
    assert big.low < truth < big.high
    assert small.low <= small.rho <= small.high
    assert (big.high - big.low) < (small.high - small.low) / 2


def test_paired_increase_agrees_with_scipy_and_detects_shifts():
    rng = np.random.default_rng(2)
    before = rng.normal(2, 0.3, 400)
    after = before + 0.05 + rng.normal(0, 0.1, 400)
    result = paired_increase(before, after)
    expected = scipy.stats.wilcoxon(after, before, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected)
    assert result.p_value < 1e-6 and result.low < 0.05 < result.high
    assert paired_increase(before, before - 0.05).p_value > 0.5
    assert paired_increase(before, before).p_value == 1.0


def test_equal_accuracy_band_and_pareto_front():
    accuracy = np.array([0.70, 0.71, 0.50, 0.69, 0.90])
    band, centre = equal_accuracy_band(accuracy, tolerance=0.015)
    assert band.tolist() == [True, True, False, True, False] and centre == 0.70
    cost = np.array([1.0, 2.0, 0.5, 0.8, 3.0])
    assert pareto_front(cost, accuracy).tolist() == [2, 3, 0, 1, 4]
    assert pareto_front(np.array([1.0, 2.0]), np.array([0.9, 0.8])).tolist() == [0]


def per_image(steps, reference, labels, levels=(0.0, 0.3)):
    steps = np.asarray(steps, dtype="float32")
    return xr.Dataset(
        {
            "expected_steps": (("occlusion", "image"), steps),
            "reference_true_class_probability": (("occlusion", "image"), np.asarray(reference, dtype="float32")),
            "correct": (("occlusion", "image"), np.ones_like(steps, dtype=bool)),
            "label": ("image", np.asarray(labels)),
        },
        coords={
            "occlusion": list(levels),
            "image_id": ("image", np.arange(100, 100 + steps.shape[1])),
            "class_name": ("class", ["a", "b"]),
        },
    )  # fmt: skip


def test_occlusion_effect_per_level_and_class():
    rng = np.random.default_rng(3)
    clean = rng.uniform(1, 3, 200)
    labels = np.arange(200) % 2
    occluded = clean + 0.5 * labels  # only class b slows down
    effect = occlusion_effect(per_image([clean, occluded], np.full((2, 200), 0.5), labels))
    assert effect.mean_steps[1] - effect.mean_steps[0] == pytest.approx(0.25, abs=1e-5)
    np.testing.assert_allclose(
        effect.steps_by_class[:, 1] - effect.steps_by_class[:, 0], [0, 0.5], atol=1e-5
    )
    assert effect.increases[0].p_value < 1e-10
    assert effect.increases[0].p_holm == pytest.approx(effect.increases[0].p_value)  # one level
    assert effect.trend.rho > 0
    assert effect.trend.clusters == 200 and effect.trend.n == 400  # resampled by image


def test_time_difficulty_uses_reaction_times_by_image_id(tmp_path):
    rng = np.random.default_rng(4)
    steps = rng.uniform(1, 4, (2, 50))
    reference = rng.uniform(0, 1, (2, 50))
    data = per_image(steps, reference, np.zeros(50, int))
    path = tmp_path / "rts.csv"  # every other image, RT a monotone function of its steps
    path.write_text(
        "image_id,rt\n" + "".join(f"{100 + i},{steps[0, i] * 100 + 300}\n" for i in range(0, 50, 2))
    )
    matched = match_reaction_times(data.image_id.values, read_reaction_times(path))
    results = {r.measure: r for r in time_difficulty(data, matched)}
    human = results["human reaction time"]
    assert human.correlation.rho == pytest.approx(1.0) and human.correlation.n == 25
    miss = results["reference classifier miss probability (clean)"].correlation.rho
    assert miss == pytest.approx(spearman(1 - reference[0], steps[0]))
    shuffled = per_image(steps[:, ::-1], reference, np.zeros(50, int))  # ids no longer fit
    rho = time_difficulty(shuffled, matched)[0].correlation.rho
    assert rho < 0.5


def test_time_difficulty_without_a_reference_classifier():
    steps = np.random.default_rng(5).uniform(1, 4, (2, 30))
    data = per_image(steps, np.zeros((2, 30)), np.zeros(30, int)).drop_vars(
        "reference_true_class_probability"
    )
    assert [r.measure for r in time_difficulty(data)] == ["occlusion level"]


def test_time_spread_tells_locked_halting_from_spread_halting():
    locked = np.zeros((1, 50, 4))
    locked[..., 2] = 1.0  # every image: all mass on step 3
    spread = np.random.default_rng(4).dirichlet([2.0, 1.0, 1.0, 0.05], size=(1, 50))
    results = []
    for probs in (locked, spread):
        expected = (probs * np.arange(1, 5)).sum(axis=2)
        data = per_image(expected, np.full_like(expected, 0.5), np.arange(50) % 2, levels=(0.0,))
        data["step_probs"] = (("occlusion", "image", "step"), probs)
        results.append(time_spread(data))
    locked_spread, spread_spread = results
    assert locked_spread.steps_std[0] == pytest.approx(0.0)
    assert locked_spread.steps_used[0] == 1
    assert spread_spread.steps_std[0] > 0.25
    assert spread_spread.steps_used[0] == 3  # the fourth step holds about 1%
    np.testing.assert_allclose(spread_spread.mean_step_probs.sum(axis=1), 1.0)


def test_mean_interval_is_a_student_t_interval_that_covers_at_its_level():
    found = mean_interval([0.80, 0.84, 0.85])
    half = scipy.stats.t.ppf(0.975, 2) * np.std([0.80, 0.84, 0.85], ddof=1) / np.sqrt(3)
    assert (found.mean, found.low, found.high, found.n) == pytest.approx(
        (0.83, 0.83 - half, 0.83 + half, 3)
    )
    assert found.text(scale=100) == "83.0 [76.4, 89.6] (n = 3)"
    single = mean_interval([0.5])
    assert (single.low, single.high) == (0.5, 0.5) and "no interval" in single.text()
    rng = np.random.default_rng(0)  # 3 normal draws a run: covers the true mean ~95% of runs
    covered = [
        (f := mean_interval(rng.normal(1.0, 2.0, 3))).low <= 1.0 <= f.high for _ in range(2000)
    ]
    assert 0.93 < np.mean(covered) < 0.97
    with pytest.raises(ValueError, match="non-empty"):
        mean_interval([])


def test_holm_adjusts_step_down_and_keeps_the_order():
    from growsim.analysis.statistics import holm

    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.001]), [0.5, 0.002])
    assert holm([0.9, 0.8, 0.7]) == [1.0, 1.0, 1.0]  # capped at 1


def test_a_cluster_bootstrap_counts_images_not_their_copies():
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = 0.3 * x + rng.normal(size=200)
    alone = bootstrap_spearman(x, y, resamples=400)
    # every image seen at four levels with identical values: no new information
    copies_x, copies_y, images = np.tile(x, 4), np.tile(y, 4), np.tile(np.arange(200), 4)
    pairs = bootstrap_spearman(copies_x, copies_y, resamples=400)
    clustered = bootstrap_spearman(copies_x, copies_y, resamples=400, clusters=images)
    width = lambda c: c.high - c.low  # noqa: E731
    assert clustered.rho == pytest.approx(alone.rho)
    assert width(pairs) < 0.7 * width(alone)  # resampling pairs pretends to 4x the data
    assert width(clustered) == pytest.approx(width(alone), rel=0.25)
    assert clustered.clusters == 200 and clustered.n == 800
    assert "n = 200 images, 800 pairs" in clustered.text()
