"""Figures and reports say what they show: labels apart, intervals on what they bound, the
box's outside unlike p = 0, whole numbers on count axes, and analyses that fit a sweep."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from growsim.analysis import figures, report, sweep_report
from growsim.analysis.findings import OcclusionEffect, run_table
from growsim.analysis.report import write_report
from growsim.analysis.statistics import Correlation, PairedIncrease
from growsim.model.lattice import Box
from growsim.record.trajectory import SCHEMA, TrajectoryLayout, checkpoint_dataset
from growsim.runs.directories import REPORT_FILES

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle-boot"]  # fmt: skip


@pytest.fixture
def drawn(monkeypatch):
    """The figures a report draws, kept (on a canvas that renders) instead of saved."""
    kept = []

    def keep(figure, path):
        FigureCanvasAgg(figure)
        kept.append(figure)
        return path

    for module in (report, sweep_report):
        monkeypatch.setattr(module, "save_figure", keep)
    return kept


def rendered(figure):
    """``figure`` drawn on an Agg canvas (a Figure made without pyplot has none)."""
    FigureCanvasAgg(figure).draw()
    return figure


def occlusion_effect():
    """Ten classes, six of which end within 0.02 steps of each other (labels would collide)."""
    levels = np.array([0.0, 0.2, 0.4, 0.6])
    starts = np.array([2.95, 2.96, 2.88, 2.93, 2.88, 2.07, 2.50, 2.00, 2.90, 2.13])
    ends = np.array([2.99, 2.995, 2.98, 2.99, 2.985, 2.79, 2.99, 2.66, 2.93, 2.81])
    by_class = np.stack([np.linspace(s, e, 4) for s, e in zip(starts, ends)])
    increases = [PairedIncrease(2.6, 2.6 + d, d, d - 0.01, d + 0.03, 1e-9, 1000)
                 for d in (0.06, 0.16, 0.29)]  # fmt: skip
    return OcclusionEffect(
        levels, np.array([2.6, 2.66, 2.76, 2.89]), np.array([0.72, 0.71, 0.69, 0.62]),
        by_class, CLASSES, increases, Correlation(0.3, 0.28, 0.33, 4000, 0.95),
    )  # fmt: skip


def test_class_labels_do_not_overlap():
    figure = rendered(figures.occlusion_figure(occlusion_effect(), "t"))
    renderer = figure.canvas.get_renderer()
    labels = [t for axis in figure.axes for t in axis.texts if t.get_text() in CLASSES]
    assert sorted(t.get_text() for t in labels) == sorted(CLASSES)
    boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the words, not the arrows
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second)


def test_the_interval_of_the_increase_is_drawn_on_the_increase():
    effect = occlusion_effect()
    figure = figures.occlusion_figure(effect, "t")
    (axis,) = [a for a in figure.axes if "increase" in a.get_ylabel()]
    (bars,) = axis.containers
    line, _, (segments,) = bars.lines
    np.testing.assert_allclose(line.get_xdata(), [20, 40, 60])  # occlusion in %
    np.testing.assert_allclose(line.get_ydata(), [i.mean_difference for i in effect.increases])
    spans = [(seg[:, 1].min(), seg[:, 1].max()) for seg in segments.get_segments()]
    np.testing.assert_allclose(spans, [(i.low, i.high) for i in effect.increases])


def test_spread_positions_keep_order_and_gap():
    placed = figures.spread_positions(np.array([3.0, 2.99, np.nan, 1.0, 2.995]), gap=0.05)
    assert np.isnan(placed[2])
    finite = placed[[3, 1, 4, 0]]  # by value
    assert (np.diff(finite) >= 0.05 - 1e-12).all()
    assert placed[3] == pytest.approx(1.0, abs=0.1)


def trajectory_growing_in_time_and_depth():
    """Three checkpoints: the box grows from 1 to 2 layers and from 2 to 4 steps."""
    layout = TrajectoryLayout(Box(layers=2, channels=4, steps=4), occlusion_levels=(0.0, 0.3))
    checkpoints = []
    for index, (layers, steps) in enumerate([(1, 2), (2, 3), (2, 4)]):
        values = {name: layout.empty(name) for name in SCHEMA}
        values["box_layers"][...] = layers
        values["box_channels"][...] = 4
        values["box_steps"][...] = steps
        values["depth"][...] = layers
        values["active_width"][:layers] = 3
        for prefix in ("", "validation_"):
            values[prefix + "time_distribution"][:steps] = 1.0 / steps  # NaN beyond the box
            values[prefix + "expected_steps"][...] = (steps + 1) / 2
            values[prefix + "accuracy_by_occlusion"][:] = 0.5
        for name in ("test_accuracy", "train_accuracy", "validation_accuracy"):
            values[name][...] = 0.5
        checkpoints.append(checkpoint_dataset(layout, 100 * index, values))
    return xr.concat(checkpoints, dim="checkpoint")


def test_growth_figure_shows_the_outside_of_the_box_and_whole_counts():
    figure = rendered(figures.growth_figure(trajectory_growing_in_time_and_depth(), "t"))
    channels_axis, layers_axis, time_axis = figure.axes[:3]
    (mesh,) = time_axis.collections
    cells = mesh.get_array().reshape(4, 3)  # (step, checkpoint)
    assert np.ma.getmaskarray(cells).tolist() == [
        [False, False, False],
        [False, False, False],
        [True, False, False],
        [True, True, False],
    ]
    colours = mesh.get_cmap()
    assert colours.get_bad()[:3] != pytest.approx(colours(0.0)[:3], abs=0.05)  # not p = 0
    for axis in (channels_axis, layers_axis, time_axis):
        low, high = axis.get_ylim()
        ticks = [t for t in axis.get_yticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), axis.get_ylabel()


def per_image(levels=(0.0, 0.3), images=40):
    rng = np.random.default_rng(0)
    steps = rng.uniform(1, 3, (len(levels), images)).astype("float32")
    return xr.Dataset(
        {
            "expected_steps": (("occlusion", "image"), steps),
            "reference_true_class_probability": (("occlusion", "image"), rng.uniform(0, 1, steps.shape)),
            "correct": (("occlusion", "image"), rng.uniform(0, 1, steps.shape) > 0.3),
            "label": ("image", np.arange(images) % 2),
        },
        coords={
            "occlusion": list(levels),
            "image_id": ("image", np.arange(images)),
            "class_name": ("class", ["a", "b"]),
        },
    )  # fmt: skip


def test_occlusion_is_in_percent_in_the_difficulty_figure(drawn, tmp_path):
    from growsim.analysis.report import _difficulty_section

    _difficulty_section(per_image(), tmp_path, "run", None)
    (figure,) = drawn
    (axis,) = [a for a in figure.axes if "occlusion" in a.get_xlabel()]
    assert "%" in axis.get_xlabel()
    offsets = axis.collections[0].get_offsets()[:, 0]
    assert 25 < offsets.max() < 35  # 30 %, not 0.3


def table(count):
    rng = np.random.default_rng(1)
    return {
        "run": np.array([f"run{i}" for i in range(count)]),
        "accuracy": np.r_[np.full(count - 2, 0.70), 0.5, 0.55] + rng.uniform(0, 0.01, count),
        "channels": rng.uniform(10, 40, count),
        "depth": np.full(count, 3.0),
        "effective_depth": rng.uniform(1, 3, count),
        "steps": rng.uniform(1, 6, count),
    }


def test_tradeoff_points_are_numbered_and_the_colorbar_sits_apart():
    runs = table(6)
    maxima = {k: runs[k].max() for k in ("channels", "effective_depth", "steps")}
    figure = rendered(figures.tradeoff_figure(runs, maxima, "t"))
    panels, colorbars = figure.axes[:4], figure.axes[4:]
    for axis in panels:
        numbers = sorted(int(n) for t in axis.texts for n in t.get_text().split(","))
        assert numbers == [1, 2, 3, 4, 5, 6]
    (colorbar,) = colorbars
    bar = colorbar.get_position()
    boxes = [axis.get_position() for axis in panels]
    below_all = bar.y1 <= min(b.y0 for b in boxes)
    right_of_all = bar.x0 >= max(b.x1 for b in boxes)
    assert below_all or right_of_all  # never squeezed between two panels


def sweep_store(path, key, values, validation=None):
    """A combined sweep store with one run per value of ``key`` (two checkpoints each);
    ``validation``: each run's final validation accuracy (none recorded if not given)."""
    runs = len(values)
    rng = np.random.default_rng(2)
    dataset = xr.Dataset(
        {
            "test_accuracy": (("run", "checkpoint"), np.c_[np.full(runs, 0.3), 0.7 + 0.002 * np.arange(runs)]),
            "active_width": (("run", "checkpoint", "layer"), rng.integers(1, 9, (runs, 2, 2))),
            "depth": (("run", "checkpoint"), np.full((runs, 2), 2)),
            "channel_norm": (("run", "checkpoint", "layer", "channel"), rng.uniform(0, 1, (runs, 2, 2, 8))),
            "expected_steps": (("run", "checkpoint"), rng.uniform(1, 3, (runs, 2))),
        },
        coords={
            "run": [f"{key.split('.')[-1]}={v}" for v in values],
            "iteration": (("run", "checkpoint"), np.tile([0, 100], (runs, 1))),
            key: ("run", np.asarray(values)),
        },
        attrs={"swept_keys": [key], "failed_members": []},
    )  # fmt: skip
    if validation is not None:
        dataset["validation_accuracy"] = (
            ("run", "checkpoint"),
            np.c_[np.full(runs, 0.3), validation],
        )
    dataset.to_zarr(path / "sweep.zarr", mode="w", consolidated=True, zarr_format=2)


def test_a_complexity_sweep_gets_no_tradeoff_and_no_rank_correlation_of_three(tmp_path):
    sweep_store(tmp_path, "data.classes", [2, 5, 10])
    text = write_report(tmp_path).read_text()
    assert "## Trade-offs" not in text and "equal accuracy" not in text
    assert "Spearman rho =" not in text
    assert "No rank correlation: 3 runs are too few" in text
    assert "## Resources against the swept keys" in text


def test_a_cost_sweep_gets_the_tradeoff_and_rank_correlations_from_five_runs(tmp_path):
    sweep_store(tmp_path, "costs.time.weight", [0.0, 0.05, 0.1, 0.2, 0.4, 0.8])
    text = write_report(tmp_path).read_text()
    assert "## Trade-offs" in text
    assert "- steps vs costs.time.weight: Spearman rho =" in text and "(n = 6)" in text
    assert "| # | run |" in text and "| 6 | weight=0.8 |" in text  # rows numbered as in the figure


def test_the_equal_accuracy_band_is_chosen_on_validation_accuracy(tmp_path):
    """Test accuracies 0.700-0.710 would put all six runs in one band; on validation only
    runs 1, 2 and 3 agree within 0.02, so the band holds those three."""
    sweep_store(tmp_path, "costs.time.weight", [0.0, 0.05, 0.1, 0.2, 0.4, 0.8],
                validation=[0.80, 0.81, 0.79, 0.70, 0.60, 0.50])  # fmt: skip
    text = write_report(tmp_path).read_text()
    assert "3 runs reach validation accuracy 0.800 ± 0.02" in text
    assert "the band is chosen on validation accuracy; their test accuracy 0.700-0.704" in text
    assert "| 1 | weight=0.0 | 0 | 0.800 | 0.700 |" in text  # validation and test columns


def test_width_is_active_channels_per_active_layer(tmp_path):
    """Channels sum over layers; width divides by the layers with any active channel, so a
    layer switched off does not halve the width of the other."""
    sweep_store(tmp_path, "costs.time.weight", [0.0, 0.1, 0.2])
    with xr.open_zarr(tmp_path / "sweep.zarr") as stored:
        sweep = stored.load()
    sweep["active_width"][0, -1] = [6, 0]  # run 1: the upper layer off
    sweep["active_width"][1, -1] = [3, 5]
    table = run_table(sweep)
    assert table["channels"][:2].tolist() == [6, 8]
    assert table["width"][:2].tolist() == [6, 4]
    assert np.isnan(table["validation_accuracy"]).all()  # a store without it


def test_report_files_are_the_ones_overwrite_may_delete(tmp_path):
    sweep_store(tmp_path, "costs.time.weight", [0.0, 0.05, 0.1])
    write_report(tmp_path)
    assert {p.name for p in (tmp_path / "report").iterdir()} <= set(REPORT_FILES)


def test_figures_leave_the_backend_alone_and_need_no_pyplot(tmp_path):
    """A notebook keeps its own backend: making and saving a report figure neither picks one
    nor imports pyplot (whose figures would stay open)."""
    script = (
        "import sys, matplotlib\n"
        "from growsim.analysis import figures, report\n"
        "from tests.test_report import trajectory_growing_in_time_and_depth\n"
        "figure = figures.growth_figure(trajectory_growing_in_time_and_depth(), 't')\n"
        "figures.save_figure(figure, sys.argv[1])\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    root = Path(__file__).parent.parent
    environment = {
        **os.environ,
        "MPLBACKEND": "svg",
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-c", script, str(tmp_path / "growth.png")]
    finished = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "growth.png").stat().st_size > 0
