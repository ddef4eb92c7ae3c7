"""Matplotlib figures of growth, trade-offs, occlusion and time vs difficulty (PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from growsim.analysis import (  # noqa: E402
    RESOURCE_COLUMNS,
    DifficultyCorrelation,
    OcclusionEffect,
    equal_accuracy_band,
    pareto_front,
    resource_cost,
)

RESOURCE_LABELS = {
    "width": "active channels (sum over layers)",
    "depth": "active layers",
    "effective_depth": "effective depth (layers weighted by strength)",
    "steps": "expected time steps",
}


def _save(figure, path: Path) -> Path:
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def _mark_growth(axis, trajectory: xr.Dataset) -> None:
    growth = trajectory.growth.values
    for iteration in trajectory.iteration.values[(growth > 0).any(axis=1)]:
        axis.axvline(iteration, color="0.6", linestyle=":", linewidth=1)
    for iteration in trajectory.iteration.values[(growth < 0).any(axis=1)]:
        axis.axvline(iteration, color="tab:red", linestyle="-.", linewidth=1, alpha=0.6)


def growth_figure(trajectory: xr.Dataset, path: Path, title: str) -> Path:
    """Width per layer, depth, time distribution and accuracy over training."""
    trajectory = trajectory.compute()
    iteration = trajectory.iteration.values
    figure, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    width = trajectory.active_width.values
    colours = plt.cm.viridis(np.linspace(0, 0.9, width.shape[1]))
    for layer in range(width.shape[1]):
        in_box = trajectory.box_layers.values > layer
        if in_box.any():
            axes[0].plot(iteration[in_box], width[in_box, layer], "-o", markersize=3,
                         color=colours[layer], label=f"layer {layer}")  # fmt: skip
    axes[0].step(iteration, trajectory.box_channels.values, where="post", color="k",
                 linestyle="--", linewidth=1, label="box channels")  # fmt: skip
    axes[0].set_ylabel("active channels")
    axes[0].legend(fontsize=8, ncol=3, loc="lower right")
    axes[1].plot(iteration, trajectory.depth.values, "-o", markersize=3, label="active layers")
    axes[1].step(iteration, trajectory.box_layers.values, where="post", color="k",
                 linestyle="--", linewidth=1, label="box layers")  # fmt: skip
    axes[1].set_ylabel("layers")
    axes[1].legend(fontsize=8, loc="lower right")
    distribution = np.nan_to_num(trajectory.time_distribution.values.T)
    steps = distribution.shape[0]
    # cells centred on their checkpoints
    middles = (iteration[1:] + iteration[:-1]) / 2 if len(iteration) > 1 else np.array([])
    half = (iteration[1] - iteration[0]) / 2 if len(iteration) > 1 else 0.5
    edges = np.r_[iteration[0] - half, middles, iteration[-1] + half]
    mesh = axes[2].pcolormesh(edges, np.arange(steps + 1) + 0.5, distribution, cmap="magma_r",
                              vmin=0, vmax=1, shading="flat")  # fmt: skip
    axes[2].plot(iteration, trajectory.expected_steps.values, color="tab:cyan", linewidth=2,
                 label="expected steps")  # fmt: skip
    axes[2].step(iteration, trajectory.box_steps.values + 0.5, where="mid", color="k",
                 linestyle="--", linewidth=1, label="box steps")  # fmt: skip
    axes[2].set_ylabel("time step t (1 = first)")
    axes[2].legend(fontsize=8, loc="upper right")
    colour_axis = axes[2].inset_axes([1.01, 0.0, 0.015, 1.0])  # beside, not stealing width
    figure.colorbar(mesh, cax=colour_axis, label="mean p_t (clean test)")
    axes[3].plot(iteration, trajectory.train_accuracy.values, label="train (running)")
    for index, level in enumerate(trajectory.occlusion.values):
        axes[3].plot(iteration, trajectory.accuracy_by_occlusion.values[:, index],
                     label=f"test, {level:.0%} occluded")  # fmt: skip
    axes[3].set_ylabel("accuracy")
    axes[3].set_xlabel("training iteration (dotted: the box grew; red dash-dot: compaction shrank it)")
    axes[3].legend(fontsize=8, ncol=2, loc="lower right")
    for axis in axes:
        _mark_growth(axis, trajectory)
        axis.grid(alpha=0.3)
    axes[0].set_title(title)
    return _save(figure, path)


def occlusion_figure(effect: OcclusionEffect, path: Path, title: str) -> Path:
    """Expected steps and accuracy against occlusion level, overall and per class."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    levels = effect.levels * 100
    for index, name in enumerate(effect.class_names):
        left.plot(levels, effect.steps_by_class[index], color="0.75", linewidth=1,
                  label="single classes" if index == 0 else None)  # fmt: skip
        left.annotate(name, (levels[-1], effect.steps_by_class[index, -1]), fontsize=6,
                      color="0.4", xytext=(3, 0), textcoords="offset points", va="center")  # fmt: skip
    # error bars: the 95% bootstrap interval of each level's increase over clean images
    below = [0] + [i.mean_difference - i.low for i in effect.increases]
    above = [0] + [i.high - i.mean_difference for i in effect.increases]
    left.errorbar(levels, effect.mean_steps, yerr=[below, above], color="tab:red", marker="o",
                  capsize=3, linewidth=2, label="all images (95% CI of increase)")  # fmt: skip
    left.set_xlabel("occlusion (% of image covered)")
    left.set_ylabel("expected time steps")
    left.legend(fontsize=8)
    right.plot(levels, effect.accuracy, "-o", color="tab:blue")
    right.set_xlabel("occlusion (% of image covered)")
    right.set_ylabel("test accuracy")
    right.set_ylim(0, 1)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return _save(figure, path)


def difficulty_figure(
    steps: np.ndarray, measures: dict[str, np.ndarray], correlations: list[DifficultyCorrelation],
    path: Path, title: str,
) -> Path:
    """Per-image expected steps against each difficulty measure (one panel per measure)."""
    figure, axes = plt.subplots(1, len(measures), figsize=(5 * len(measures), 4), squeeze=False)
    rng = np.random.default_rng(0)
    for axis, (name, values) in zip(axes[0], measures.items()):
        jitter = rng.uniform(-0.01, 0.01, len(values)) if len(np.unique(values)) < 10 else 0
        axis.scatter(values + jitter, steps[name], s=4, alpha=0.3, color="tab:purple")
        found = [c for c in correlations if c.measure == name]
        if found:
            axis.set_title(f"Spearman {found[0].correlation.text()}", fontsize=8)
        axis.set_xlabel(name)
        axis.set_ylabel("expected time steps (per image)")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    return _save(figure, path)


def tradeoff_figure(table: dict[str, np.ndarray], maxima: dict[str, float], path: Path, title: str,
                    tolerance: float = 0.02) -> Path:  # fmt: skip
    """Pairs of resources (runs of equal accuracy highlighted) and accuracy vs total cost."""
    band, centre = equal_accuracy_band(table["accuracy"], tolerance)
    figure, axes = plt.subplots(1, 4, figsize=(19, 4.4), layout="constrained")
    pairs = [("width", "effective_depth"), ("width", "steps"), ("effective_depth", "steps")]
    accuracy = table["accuracy"]
    for axis, (x, y) in zip(axes, pairs):
        points = axis.scatter(table[x][~band], table[y][~band], c=accuracy[~band], cmap="viridis",
                              vmin=accuracy.min(), vmax=accuracy.max(), marker="o", alpha=0.5)  # fmt: skip
        axis.scatter(table[x][band], table[y][band], c=accuracy[band], cmap="viridis",
                     vmin=accuracy.min(), vmax=accuracy.max(), marker="*", s=160,
                     edgecolors="k", label=f"accuracy {centre:.2f} ± {tolerance}")  # fmt: skip
        axis.set_xlabel(RESOURCE_LABELS[x])
        axis.set_ylabel(RESOURCE_LABELS[y])
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.colorbar(points, ax=axes[:3].tolist(), label="test accuracy", pad=0.01)
    cost = resource_cost(table, maxima)
    front = pareto_front(cost, accuracy)
    axes[3].scatter(cost, accuracy, color="tab:gray", alpha=0.6, label="runs")
    axes[3].plot(cost[front], accuracy[front], "-o", color="tab:red", label="frontier")
    axes[3].set_xlabel("total resources (width/max + effective depth/max + steps/max)")
    axes[3].set_ylabel("test accuracy")
    axes[3].grid(alpha=0.3)
    axes[3].legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, path)


def complexity_figure(table: dict[str, np.ndarray], knobs: list[str], path: Path, title: str) -> Path:
    """Each resource (and accuracy) against the first knob, one line per value of the second."""
    first = knobs[0]
    second = knobs[1] if len(knobs) > 1 else None
    figure, axes = plt.subplots(1, 4, figsize=(19, 4.2), layout="constrained")
    groups = np.unique(table[second]) if second else [None]
    for group in groups:
        chosen = np.ones(len(table["run"]), bool) if group is None else table[second] == group
        xs = np.unique(table[first][chosen])
        for axis, column in zip(axes, (*RESOURCE_COLUMNS, "accuracy")):
            means = [table[column][chosen & (table[first] == x)].mean() for x in xs]
            axis.plot(xs, means, "-o", label=f"{second} = {group}" if second else None)
            axis.scatter(table[first][chosen], table[column][chosen], s=10, color="0.5", alpha=0.5)
    for axis, column in zip(axes, (*RESOURCE_COLUMNS, "accuracy")):
        axis.set_xlabel(first)
        axis.set_ylabel(RESOURCE_LABELS.get(column, "test accuracy"))
        axis.grid(alpha=0.3)
        if second:
            axis.legend(fontsize=8)
    figure.suptitle(title + " (lines: mean over seeds; dots: single runs)")
    return _save(figure, path)


def response_figure(arms, path: Path, title: str) -> Path:
    """One panel per cost: the resource it presses on (solid) and accuracy (dashed, right
    axis) against its weight, one line per seed."""
    costs = list(dict.fromkeys(arm.cost for arm in arms))
    figure, axes = plt.subplots(1, len(costs), figsize=(4.6 * len(costs), 3.8), squeeze=False,
                                layout="constrained")  # fmt: skip
    for axis, cost in zip(axes[0], costs):
        accuracy_axis = axis.twinx()
        for index, arm in enumerate(a for a in arms if a.cost == cost):
            colour = f"C{index}"
            axis.plot(arm.weights, arm.resource, "o-", color=colour,
                      label=f"seed {arm.seed} (rho {arm.rho:.2f})")  # fmt: skip
            accuracy_axis.plot(arm.weights, arm.accuracy, "s--", color=colour, alpha=0.5)
        axis.set_xscale("log")
        axis.set_xlabel(f"{cost} cost weight")
        resource = {"breadth": "width", "depth": "depth", "time": "steps"}[cost]
        axis.set_ylabel(RESOURCE_LABELS[resource])
        if resource == "depth":
            axis.yaxis.get_major_locator().set_params(integer=True)
        accuracy_axis.set_ylabel("test accuracy (dashed)")
        accuracy_axis.set_ylim(0, 1)
        axis.legend(fontsize=8, loc="lower left")
    figure.suptitle(title)
    return _save(figure, path)
