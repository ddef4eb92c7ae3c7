"""``growsim reproduce`` end to end on a tiny base spec (the quick variant's design on one
small dataset), and the statistics the results page rests on."""

import json

import numpy as np
import pytest
import yaml

from growsim.analysis.reproduction import RunRecord, substitution_pairs, summarise_settings
from growsim.analysis.statistics import increases_by_level
from growsim.analysis.surface import fit_surface
from growsim.cli import main
from growsim.reproduce import experiments as design

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
  iterations: 40
  threads: 1
record:
  every: 10
  occluded_every: 2
  validation_size: 20
"""


@pytest.fixture(scope="module")
def quick_reproduction(tmp_path_factory):
    """(out, results page) of ``growsim reproduce --quick`` on the tiny base, one dataset."""
    root = tmp_path_factory.mktemp("reproduce")
    base = root / "base.yaml"
    base.write_text(TINY_BASE)
    patch = pytest.MonkeyPatch()
    patch.setattr(design, "BASE_SPEC", base)
    patch.setattr(design, "DATASETS", {"shapes": {
        "data.classes": 3, "data.image_size": 16, "data.train_size": 300, "data.test_size": 60,
    }})  # fmt: skip
    patch.setattr(design, "QUICK_DESIGNS", {**design.QUICK_DESIGNS, "complexity": {
        "grid": {"data.classes": [2, 3], "data.noise": [0.0, 0.3]}}})  # fmt: skip
    try:
        out, results = root / "out", root / "results.md"
        argv = ["reproduce", "--quick", "--out", str(out), "--results", str(results), "--no-progress"]
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
    assert counts == {"ablation-shapes": 1, "complexity-shapes": 4, "tradeoff-shapes": 9}
    tradeoff = yaml.safe_load((out / "tradeoff-shapes" / "sweep.yaml").read_text())
    assert tradeoff["training"]["iterations"] == 40 and tradeoff["sweep"]["seeds"] == [0]
    weights = {tuple(p.values()) for p in tradeoff["sweep"]["points"]}  # a Latin square
    assert len(weights) == 9 and (0.005, 0.05, 0.05) in weights
    for k in range(3):
        assert sorted(w[k] for w in weights) == sorted(3 * list(design.TRADEOFF_GRID.values())[k])
    ablation = yaml.safe_load((out / "ablation-shapes" / "sweep.yaml").read_text())
    assert ablation["sweep"]["points"] == [{"lattice.halting_reads_confidence": False}]
    page = results.read_text()
    for heading in ("## Finding 1", "## Finding 2", "## Finding 3", "## Finding 4"):
        assert heading in page
    assert "Runs: 14 finished of 14" in page
    assert "Fit: none, 9 runs are fewer than the quadratic's 10 coefficients" in page
    assert "| time weight |" in page and "| with confidence | 0 |" in page and "| ablation | 0 |" in page
    assert (results.parent / "results-figures" / "speed-shapes.png").exists()
    log = json.loads((out / "invocations.json").read_text())
    assert [entry["runs_trained"] for entry in log] == [14, 0]  # the second run trained nothing
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
    with pytest.raises(ValueError, match="at least 10 runs"):
        fit_surface(x[:9], accuracy[:9])
    x[:, 1] = 3.0  # every run kept 3 layers: depth's terms are left out, its rates undefined
    surface = fit_surface(x, accuracy - 0.05 * 2)
    assert surface.varies.tolist() == [True, False, True] and surface.full_rank
    assert np.isnan(surface.substitution(at, 0, 1)) and np.isfinite(surface.substitution(at, 0, 2))


def test_occlusion_increases_resample_images_and_are_holm_adjusted():
    rng = np.random.default_rng(1)
    clean = rng.normal(2.0, 0.3, 400)
    steps = np.stack([clean, clean + 0.1 + rng.normal(0, 0.05, 400), clean + rng.normal(0, 0.05, 400)])
    rise, flat = increases_by_level(steps, [0.0, 0.3, 0.6], resamples=500)
    assert rise.low > 0.09 and rise.high < 0.11 and rise.p_holm < 1e-6
    assert flat.low < 0 < flat.high and flat.p_holm >= flat.p_value  # Holm never lowers a p
    assert rise.images == flat.images == 400


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
    close = runs((4,), 0.83, width=6, steps=3.5)  # agreeing intervals, but 3 points apart
    assert substitution_pairs(summarise_settings(wide + close)) == []
