"""Matplotlib figures of growth, trade-offs, occlusion and time vs difficulty.

Each function returns a ``matplotlib.figure.Figure``: a notebook shows it as it is, and
``save_figure`` writes it to a PNG. The figures are made without pyplot, so no backend is
chosen and none is changed: they draw in a notebook, a script or a process without a display
alike, and nothing keeps them alive once they are dropped.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from growsim.analysis.findings import (
    RESOURCE_COLUMNS,
    DifficultyCorrelation,
    OcclusionEffect,
    choice_accuracy,
    equal_accuracy_band,
    pareto_front,
    resource_cost,
)
from growsim.errors import RunError

RESOURCE_LABELS = {
    "channels": "active channels (sum over layers)",
    "depth": "active layers",
    "effective_depth": "effective depth (layers weighted by strength)",
    "steps": "expected time steps",
}
# x-axis labels of difficulty measures whose name alone does not give the unit
MEASURE_LABELS = {"occlusion level": "occlusion (% of image covered)"}
OUTSIDE_BOX = "0.78"  # grey: positions outside the box (not p = 0)


def save_figure(figure: Figure, path: Path, dpi: int = 110) -> Path:
    """Write ``figure`` to ``path`` (its suffix picks the format, e.g. PNG); returns ``path``."""
    try:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    except OSError as error:
        raise RunError(
            f"{path}: cannot write the figure ({error.strerror or error}); choose a writable "
            "place with --out DIR"
        ) from None
    return Path(path)


def seed_band(axis, x: np.ndarray, curves: np.ndarray, label: str) -> None:
    """A measure over training in ``axis``: the mean over seeds (rows of ``curves``; NaN
    left out) as a line labelled ``label``, with a band of +-1 sd when two seeds or more ran."""
    mean = np.nanmean(curves, axis=0)
    line = axis.plot(x, mean, label=label)[0]
    if len(curves) > 1:
        sd = np.nanstd(curves, axis=0, ddof=1)
        axis.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)


def _mark_growth(axis, trajectory: xr.Dataset) -> None:
    growth = trajectory.growth.values
    for iteration in trajectory.iteration.values[(growth > 0).any(axis=1)]:
        axis.axvline(iteration, color="0.6", linestyle=":", linewidth=1)
    for iteration in trajectory.iteration.values[(growth < 0).any(axis=1)]:
        axis.axvline(iteration, color="tab:red", linestyle="-.", linewidth=1, alpha=0.6)


def growth_figure(trajectory: xr.Dataset, title: str = "") -> Figure:
    """Width per layer, depth, time distribution and accuracy over training."""
    trajectory = trajectory.compute()
    iteration = trajectory.iteration.values
    figure = Figure(figsize=(8, 10))
    axes = figure.subplots(4, 1, sharex=True)
    width = trajectory.active_width.values
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, width.shape[1]))
    for layer in range(width.shape[1]):
        in_box = trajectory.box_layers.values > layer
        if in_box.any():
            axes[0].plot(iteration[in_box], width[in_box, layer], "-o", markersize=3,
                         color=colours[layer], label=f"layer {layer}")  # fmt: skip
    axes[0].step(iteration, trajectory.box_channels.values, where="post", color="k",
                 linestyle="--", linewidth=1, label="box channels")  # fmt: skip
    axes[0].set_ylabel("active channels")
    axes[0].legend(fontsize=8, ncol=3, loc="lower right")
    for axis in axes[:2]:  # counts of channels and layers: whole numbers only
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].plot(iteration, trajectory.depth.values, "-o", markersize=3, label="active layers")
    axes[1].step(iteration, trajectory.box_layers.values, where="post", color="k",
                 linestyle="--", linewidth=1, label="box layers")  # fmt: skip
    axes[1].set_ylabel("layers")
    axes[1].legend(fontsize=8, loc="lower right")
    # NaN (steps outside the box) stays masked and is drawn grey, not as p = 0
    distribution = np.ma.masked_invalid(_per_checkpoint(trajectory, "time_distribution").values.T)
    steps = distribution.shape[0]
    colours_p = matplotlib.colormaps["magma_r"].with_extremes(bad=OUTSIDE_BOX)
    # cells centred on their checkpoints
    middles = (iteration[1:] + iteration[:-1]) / 2 if len(iteration) > 1 else np.array([])
    half = (iteration[1] - iteration[0]) / 2 if len(iteration) > 1 else 0.5
    edges = np.r_[iteration[0] - half, middles, iteration[-1] + half]
    mesh = axes[2].pcolormesh(edges, np.arange(steps + 1) + 0.5, distribution, cmap=colours_p,
                              vmin=0, vmax=1, shading="flat")  # fmt: skip
    axes[2].plot(iteration, _per_checkpoint(trajectory, "expected_steps").values, color="tab:cyan",
                 linewidth=2, label="expected steps")  # fmt: skip
    axes[2].step(iteration, trajectory.box_steps.values + 0.5, where="mid", color="k",
                 linestyle="--", linewidth=1, label="box steps")  # fmt: skip
    axes[2].set_ylabel("time step t (1 = first)")
    axes[2].yaxis.set_major_locator(MaxNLocator(integer=True))
    handles, _ = axes[2].get_legend_handles_labels()
    handles.append(Patch(color=OUTSIDE_BOX, label="outside the box"))
    axes[2].legend(handles=handles, fontsize=8, loc="upper right")
    colour_axis = axes[2].inset_axes([1.01, 0.0, 0.015, 1.0])  # beside, not stealing width
    figure.colorbar(mesh, cax=colour_axis, label="mean p_t (clean validation)")
    axes[3].plot(iteration, trajectory.train_accuracy.values, label="train (running)")
    for index, level in enumerate(trajectory.occlusion.values):
        validation = _per_checkpoint(trajectory, "accuracy_by_occlusion").values[:, index]
        measured = np.isfinite(validation)  # occluded levels: at every record.occluded_every-th
        line, = axes[3].plot(iteration[measured], validation[measured], marker="." if index else None,
                             label=f"validation, {level:.0%} occluded")  # fmt: skip
        tested = np.isfinite(trajectory.accuracy_by_occlusion.values[:, index])
        axes[3].plot(iteration[tested], trajectory.accuracy_by_occlusion.values[tested, index],
                     "D", color=line.get_color(), markersize=4)  # fmt: skip
    axes[3].plot([], [], "D", color="grey", markersize=4, label="test (record.test_every)")
    axes[3].set_ylabel("accuracy")
    axes[3].set_xlabel(
        "training iteration (dotted: the box grew; red dash-dot: compaction shrank it)"
    )
    axes[3].legend(fontsize=8, ncol=2, loc="lower right")
    for axis in axes:
        _mark_growth(axis, trajectory)
        axis.grid(alpha=0.3)
    axes[0].set_title(title)
    return figure


def occlusion_figure(effect: OcclusionEffect, title: str = "") -> Figure:
    """Expected steps per occlusion level (overall and per class), its increase over clean
    images with 95% bootstrap intervals, and accuracy per level."""
    figure = Figure(figsize=(15, 4.4), layout="constrained")
    steps_axis, increase_axis, accuracy_axis = figure.subplots(1, 3)
    levels = effect.levels * 100
    for index in range(len(effect.class_names)):
        steps_axis.plot(levels, effect.steps_by_class[index], color="0.75", linewidth=1,
                        label="single classes" if index == 0 else None)  # fmt: skip
    steps_axis.plot(levels, effect.mean_steps, "-o", color="tab:red", linewidth=2,
                    label="all images")  # fmt: skip
    steps_axis.set_ylabel("expected time steps")
    steps_axis.legend(fontsize=8, loc="best")
    _label_line_ends(
        figure, steps_axis, levels[-1], effect.steps_by_class[:, -1], effect.class_names
    )

    occluded = levels[1:]
    increase = np.asarray([i.mean_difference for i in effect.increases])
    below = increase - np.asarray([i.low for i in effect.increases])
    above = np.asarray([i.high for i in effect.increases]) - increase
    increase_axis.axhline(0, color="0.4", linewidth=1)
    increase_axis.errorbar(occluded, increase, yerr=[below, above], color="tab:red", marker="o",
                           capsize=3, linewidth=2,
                           label="mean over the same images, 95% bootstrap CI")  # fmt: skip
    increase_axis.set_ylabel("increase in expected steps over clean")
    increase_axis.set_xlim(steps_axis.get_xlim())
    increase_axis.legend(fontsize=8, loc="best")

    accuracy_axis.plot(levels, effect.accuracy, "-o", color="tab:blue")
    accuracy_axis.set_ylabel("test accuracy")
    accuracy_axis.set_ylim(0, 1)
    for axis in (steps_axis, increase_axis, accuracy_axis):
        axis.set_xlabel("occlusion (% of image covered)")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def _per_checkpoint(trajectory: xr.Dataset, name: str) -> xr.DataArray:
    """The validation variable ``validation_<name>``, measured at every checkpoint; a
    trajectory written before growsim recorded it has only the test one, ``name``."""
    return trajectory.get(f"validation_{name}", trajectory[name])


def spread_positions(values: np.ndarray, gap: float) -> np.ndarray:
    """Positions near ``values`` (same order) that are at least ``gap`` apart: for labels
    that must not overlap. NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    result = np.full_like(values, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    placed = values[order].copy()
    for index in range(1, len(placed)):
        placed[index] = max(placed[index], placed[index - 1] + gap)
    placed += (values[order] - placed).mean()  # keep the block centred on the values
    result[order] = placed
    return result


def _label_line_ends(figure, axis, x: float, ends: np.ndarray, names: list[str]) -> None:
    """Name each line at its right end, in the margin, spread apart so no two overlap."""
    fontsize = 7
    figure.draw_without_rendering()  # lays it out: the axis' size in pixels turns a text height into data units
    low, high = axis.get_ylim()
    for _ in range(3):  # spreading may widen the limits, which shrinks a pixel's data size
        pixels_per_unit = axis.get_window_extent().height / (high - low)
        gap = 1.4 * fontsize * figure.dpi / 72 / pixels_per_unit
        heights = spread_positions(ends, gap)
        finite = heights[np.isfinite(heights)]
        if len(finite):
            low, high = min(low, finite.min() - gap / 2), max(high, finite.max() + gap / 2)
        axis.set_ylim(low, high)
    for name, end, height in zip(names, ends, heights):
        if not np.isfinite(end):
            continue
        axis.annotate(
            name, xy=(x, end), xytext=(1.03, height), textcoords=("axes fraction", "data"),
            fontsize=fontsize, color="0.3", va="center", annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "0.7", "linewidth": 0.6},
        )  # fmt: skip


def difficulty_figure(
    steps: dict[str, np.ndarray],
    measures: dict[str, np.ndarray],
    correlations: list[DifficultyCorrelation],
    title: str = "",
) -> Figure:
    """Per-image expected steps against each difficulty measure (one panel per measure)."""
    figure = Figure(figsize=(5 * len(measures), 4))
    axes = figure.subplots(1, len(measures), squeeze=False)
    rng = np.random.default_rng(0)
    for axis, (name, values) in zip(axes[0], measures.items()):
        spread = np.ptp(values) if len(values) else 0.0
        few = len(np.unique(values)) < 10  # a few levels: jitter so the points show
        jitter = rng.uniform(-0.015, 0.015, len(values)) * (spread or 1.0) if few else 0
        axis.scatter(values + jitter, steps[name], s=4, alpha=0.3, color="tab:purple")
        found = [c for c in correlations if c.measure == name]
        if found:
            axis.set_title(f"Spearman {found[0].correlation.text()}", fontsize=8)
        axis.set_xlabel(MEASURE_LABELS.get(name, name))
        axis.set_ylabel("expected time steps (per image)")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def tradeoff_figure(table: dict[str, np.ndarray], maxima: dict[str, float], title: str = "",
                    tolerance: float = 0.02) -> Figure:  # fmt: skip
    """Pairs of resources (runs of equal accuracy highlighted) and accuracy vs total cost.

    Every point is numbered by its run's row in the report's table (1 = the first run).
    """
    chosen_on, chosen_name = choice_accuracy(table)
    band, centre = equal_accuracy_band(chosen_on, tolerance)
    figure = Figure(figsize=(19, 5.2), layout="constrained")
    axes = figure.subplots(1, 4)
    pairs = [("channels", "effective_depth"), ("channels", "steps"), ("effective_depth", "steps")]
    accuracy = table["accuracy"]
    numbers = [str(index + 1) for index in range(len(accuracy))]
    for axis, (x, y) in zip(axes, pairs):
        axis.scatter(table[x][~band], table[y][~band], c=accuracy[~band], cmap="viridis",
                              vmin=accuracy.min(), vmax=accuracy.max(), marker="o", alpha=0.5)  # fmt: skip
        axis.scatter(table[x][band], table[y][band], c=accuracy[band], cmap="viridis",
                     vmin=accuracy.min(), vmax=accuracy.max(), marker="*", s=160,
                     edgecolors="k", label=f"{chosen_name} {centre:.2f} ± {tolerance}")  # fmt: skip
        _number_points(axis, table[x], table[y], numbers)
        axis.set_xlabel(RESOURCE_LABELS[x])
        axis.set_ylabel(RESOURCE_LABELS[y])
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    scale = ScalarMappable(Normalize(accuracy.min(), accuracy.max()), "viridis")
    figure.colorbar(scale, ax=axes[:3].tolist(), location="bottom", shrink=0.4, aspect=40,
                    label="test accuracy (colour of the points above)")  # fmt: skip
    cost = resource_cost(table, maxima)
    front = pareto_front(cost, accuracy)
    axes[3].scatter(cost, accuracy, color="tab:gray", alpha=0.6, label="runs")
    axes[3].plot(cost[front], accuracy[front], "-o", color="tab:red", label="frontier")
    _number_points(axes[3], cost, accuracy, numbers)
    axes[3].set_xlabel("total resources (channels/max + effective depth/max + steps/max)")
    axes[3].set_ylabel("test accuracy")
    axes[3].grid(alpha=0.3)
    axes[3].legend(fontsize=8)
    figure.suptitle(title + " (numbers: runs as in the report's table)")
    return figure


def _number_points(axis, x: np.ndarray, y: np.ndarray, numbers: list[str]) -> None:
    """Write each point's number beside it; points (nearly) on top of each other share one
    label ("2,8")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    scaled = np.stack([(v - v.min()) / (np.ptp(v) or 1.0) for v in (x, y)], axis=1)
    labelled = np.zeros(len(x), dtype=bool)
    for index in range(len(x)):
        if labelled[index]:
            continue
        together = ~labelled & (np.abs(scaled - scaled[index]).max(axis=1) < 0.025)
        labelled |= together
        text = ",".join(numbers[i] for i in np.flatnonzero(together))
        axis.annotate(text, (x[index], y[index]), xytext=(5, 4), textcoords="offset points",
                      fontsize=8, color="0.2")  # fmt: skip


def complexity_figure(table: dict[str, np.ndarray], knobs: list[str], title: str = "") -> Figure:
    """Each resource (and accuracy) against the first knob, one line per value of the second."""
    first = knobs[0]
    second = knobs[1] if len(knobs) > 1 else None
    figure = Figure(figsize=(19, 4.2), layout="constrained")
    axes = figure.subplots(1, 4)
    groups = np.unique(table[second]) if second else [None]
    for group in groups:
        chosen = np.ones(len(table["run"]), bool) if group is None else table[second] == group
        xs = np.unique(table[first][chosen])
        for axis, column in zip(axes, (*RESOURCE_COLUMNS, "accuracy")):
            means = [table[column][chosen & (table[first] == x)].mean() for x in xs]
            axis.plot(xs, means, "-o", label=f"{second} = {group}" if second else None)
            axis.scatter(table[first][chosen], table[column][chosen], s=10, color="0.5", alpha=0.5)
    whole = np.issubdtype(np.asarray(table[first]).dtype, np.integer)
    for axis, column in zip(axes, (*RESOURCE_COLUMNS, "accuracy")):
        axis.set_xlabel(first)
        if whole:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(RESOURCE_LABELS.get(column, "test accuracy"))
        axis.grid(alpha=0.3)
        if second:
            axis.legend(fontsize=8)
    figure.suptitle(title + " (lines: mean over seeds; dots: single runs)")
    return figure


def response_figure(arms, title: str = "") -> Figure:
    """One panel per cost: the resource it presses on (solid) and accuracy (dashed, right
    axis) against its weight, one line per seed."""
    costs = list(dict.fromkeys(arm.cost for arm in arms))
    figure = Figure(figsize=(4.6 * len(costs), 3.8), layout="constrained")
    axes = figure.subplots(1, len(costs), squeeze=False)
    for axis, cost in zip(axes[0], costs):
        accuracy_axis = axis.twinx()
        for index, arm in enumerate(a for a in arms if a.cost == cost):
            colour = f"C{index}"
            axis.plot(arm.weights, arm.resource, "o-", color=colour,
                      label=f"seed {arm.seed} (rho {arm.rho:.2f})")  # fmt: skip
            accuracy_axis.plot(arm.weights, arm.accuracy, "s--", color=colour, alpha=0.5)
        axis.set_xscale("log")
        axis.set_xlabel(f"{cost} cost weight")
        resource = {"breadth": "channels", "depth": "depth", "time": "steps"}[cost]
        axis.set_ylabel(RESOURCE_LABELS[resource])
        if resource == "depth":
            axis.yaxis.get_major_locator().set_params(integer=True)
        accuracy_axis.set_ylabel("test accuracy (dashed)")
        accuracy_axis.set_ylim(0, 1)
        axis.legend(fontsize=8, loc="lower left")
    figure.suptitle(title)
    return figure


def speed_accuracy_figure(per_image: xr.Dataset, title: str = "") -> Figure:
    """Accuracy against the exit threshold and against the mean steps computed, one line per
    occlusion level (``exit_accuracy`` and ``exit_steps`` of per_image.zarr)."""
    figure = Figure(figsize=(9, 3.6))
    axes = figure.subplots(1, 2)
    thresholds = per_image.exit_threshold.values
    for index, level in enumerate(per_image.occlusion.values):
        accuracy = per_image.exit_accuracy.values[:, index]
        label = f"{level:.0%} occluded"
        axes[0].plot(thresholds, accuracy, "-o", markersize=3, label=label)
        axes[1].plot(
            per_image.exit_steps.values[:, index], accuracy, "-o", markersize=3, label=label
        )
    axes[0].set_xlabel("exit threshold (halting mass left when an input stops)")
    axes[1].set_xlabel("mean steps computed")
    for axis in axes:
        axis.set_ylabel("test accuracy")
    axes[1].legend(fontsize=8)
    figure.suptitle(title)
    return figure
