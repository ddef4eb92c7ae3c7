"""growsim.model.topology against a plain networkx reference, on generated graphs and edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from growsim.model.topology import analyse, edge_masks
from tests.topology_reference import random_graph, reference_metrics


def assert_matches_reference(graph, steps):
    result = analyse(*graph, steps)
    expected = reference_metrics(*graph, steps)
    assert result.longest_path.tolist() == expected["longest_path"].tolist()
    assert result.shortest_path.tolist() == expected["shortest_path"].tolist()
    assert np.allclose(result.log_path_count, expected["log_path_count"])
    assert result.on_path.tolist() == expected["on_path"].tolist()
    assert result.dead_units == expected["dead_units"]
    assert result.components == expected["components"]
    assert np.array_equal(result.edge_counts, expected["edge_counts"])
    return result


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 4), st.integers(1, 5), st.integers(1, 4),
    st.floats(0.0, 1.0), st.floats(0.0, 0.8), st.integers(0, 2**31),
)  # fmt: skip
def test_metrics_match_the_reference_on_random_graphs(
    layers, channels, steps, activity, density, seed
):
    assert_matches_reference(random_graph(layers, channels, activity, density, seed), steps)


def test_nothing_active():
    result = assert_matches_reference(random_graph(3, 4, 0.0, 0.5, 0), steps=3)
    assert result.active_nodes == 0 and result.components == 0
    assert (result.longest_path == 0).all() and np.isneginf(result.log_path_count).all()


def test_one_layer_one_step_is_input_straight_to_readout():
    active, inputs, *masks = random_graph(1, 3, 1.0, 0.0, 0)
    inputs[:] = True
    result = assert_matches_reference((active, inputs, *masks), steps=1)
    assert result.longest_path.tolist() == [1] and result.shortest_path.tolist() == [1]
    assert np.isclose(result.log_path_count[0], np.log(3))


def test_recurrence_makes_effective_depth_grow_with_time():
    active, inputs, *masks = random_graph(2, 3, 1.0, 1.0, 0)
    inputs[:] = True
    result = assert_matches_reference((active, inputs, *masks), steps=4)
    assert np.all(np.diff(result.longest_path) > 0)
    assert result.shortest_path.tolist() == [2, 2, 2, 2]


def test_a_layer_fully_off_cuts_all_paths():
    active, inputs, *masks = random_graph(3, 4, 1.0, 1.0, 1)
    active[1] = False
    for mask in masks:
        mask[1] = False
        mask[:, :, :] &= active[:, :, None]
    masks[0][2] = False  # bottom-up into layer 2 read layer 1
    masks[2][0] = False  # top-down into layer 0 read layer 1
    result = assert_matches_reference((active, inputs, *masks), steps=3)
    assert (result.longest_path == 0).all()
    assert result.dead_units == active.sum()


def test_edge_masks_use_threshold_and_activity():
    active = np.array([[True, True], [True, False]])
    norms = [
        {"bottom_up": np.array([[1.0], [0.0]]), "lateral": np.array([[0.0, 1.0], [1.0, 0.0]])},
        {"bottom_up": np.array([[1.0, 1.0], [1.0, 1.0]])},
    ]
    inputs, bottom_up, lateral, top_down = edge_masks(norms, active, edge_threshold=0.1)
    assert inputs.tolist() == [True, False]
    assert lateral[0].tolist() == [[False, True], [True, False]]
    assert bottom_up[1].tolist() == [[True, True], [False, False]]  # channel 1 of layer 1 is off
    assert not top_down.any()


@pytest.mark.parametrize("steps", [1, 5])
def test_larger_graphs_match_too(steps):
    assert_matches_reference(random_graph(4, 12, 0.5, 0.15, 7), steps)
