"""Dose-response analysis of a one-cost-at-a-time sweep."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from growsim.analysis.findings import run_table
from growsim.analysis.response import is_response_design, response_arms
from growsim.cli import main


def table_of(rows):
    """A run table from (breadth, depth, time, seed, width, depth_used, steps, accuracy) rows."""
    columns = list(zip(*rows))
    return {
        "run": np.asarray([f"run{i}" for i in range(len(rows))]),
        "costs.breadth.weight": np.asarray(columns[0]),
        "costs.depth.weight": np.asarray(columns[1]),
        "costs.time.weight": np.asarray(columns[2]),
        "training.seed": np.asarray(columns[3]),
        "channels": np.asarray(columns[4], dtype=float),
        "depth": np.asarray(columns[5], dtype=float),
        "steps": np.asarray(columns[6], dtype=float),
        "accuracy": np.asarray(columns[7], dtype=float),
    }


BASE = (0.01, 0.1, 0.03)
ROWS = [
    # base point, both seeds
    (*BASE, 0, 40, 3, 3.0, 0.8),
    (*BASE, 1, 42, 3, 3.1, 0.8),
    # breadth arm (seed 0 only), resources falling except one tie
    (0.001, 0.1, 0.03, 0, 48, 3, 3.0, 0.8),
    (0.1, 0.1, 0.03, 0, 12, 3, 3.0, 0.6),
    # depth arm, seed 1: one run's depth does *not* fall
    (0.01, 0.01, 0.03, 1, 40, 2, 3.0, 0.8),
    (0.01, 1.0, 0.03, 1, 40, 1, 3.0, 0.7),
    # time arm, seed 0
    (0.01, 0.1, 0.3, 0, 40, 3, 1.2, 0.7),
]


def test_a_one_at_a_time_sweep_is_recognised_and_a_grid_is_not():
    assert is_response_design(table_of(ROWS))
    grid = [(b, d, 0.03, 0, 10, 1, 1.0, 0.5) for b in (0.01, 0.1) for d in (0.1, 1.0)]
    assert not is_response_design(table_of(grid))


def test_arms_pick_the_runs_at_the_other_costs_base_values_and_sort_by_weight():
    arms = {(arm.cost, arm.seed): arm for arm in response_arms(table_of(ROWS))}
    breadth = arms[("breadth", 0)]
    assert breadth.weights.tolist() == [0.001, 0.01, 0.1]
    assert breadth.resource.tolist() == [48, 40, 12]  # active channels
    assert breadth.rho == -1.0
    depth = arms[("depth", 1)]
    assert depth.weights.tolist() == [0.01, 0.1, 1.0]
    assert depth.resource.tolist() == [2, 3, 1]  # the base run rose: not monotone
    assert -1.0 < depth.rho < 0
    time = arms[("time", 0)]
    assert time.weights.tolist() == [0.03, 0.3] and time.resource.tolist() == [3.0, 1.2]
    assert ("breadth", 1) not in arms  # seed 1 has only the base breadth weight


@pytest.mark.slow
def test_each_resource_answers_its_own_cost_in_the_response_spec(tmp_path):
    """specs/response.yaml in full (about 20 minutes on 2 cores): for each seed, each
    resource falls with its own weight (Spearman <= -0.9); at the highest weight one active
    layer, at most 1.5 expected steps and at most half the channels of the lowest breadth
    weight, with accuracy well above chance (1/6)."""
    spec = Path(__file__).parent.parent / "specs" / "response.yaml"
    assert main(["sweep", str(spec), "--out", str(tmp_path), "--no-progress"]) == 0
    sweep = xr.open_zarr(tmp_path / "response" / "sweep.zarr")
    arms = response_arms(run_table(sweep))
    assert len(arms) == 6  # three costs x two seeds
    for arm in arms:
        assert arm.rho <= -0.9, arm
        assert arm.accuracy[-1] > 1 / 6 + 0.2, arm
        if arm.cost == "depth":
            assert arm.resource[-1] == 1
        if arm.cost == "time":
            assert arm.resource[-1] <= 1.5
        if arm.cost == "breadth":
            assert arm.resource[-1] <= arm.resource[0] / 2
    assert main(["report", str(tmp_path / "response")]) == 0
    report = (tmp_path / "response" / "report" / "report.md").read_text()
    assert "Each resource against its own cost" in report
