"""When the box grows, and by how much."""

import numpy as np

from growsim.model.growth import active_region, grown_box
from growsim.model.lattice import Box
from growsim.spec import GrowthConfig

BOX, MAX = Box(layers=2, channels=4, steps=3), Box(layers=3, channels=6, steps=4)


def region(magnitudes, last_mass=0.0):
    probs = np.array([1 - last_mass, last_mass])
    return active_region(np.asarray(magnitudes, dtype=float), probs, channel_threshold=0.1)


def test_nothing_at_the_edge_means_no_growth():
    r = region([[1, 1, 0, 0], [0, 0, 0, 0]])
    assert r.width.tolist() == [2, 0] and r.depth == 1
    assert grown_box(BOX, r, GrowthConfig(), MAX, time_threshold=0.05) == BOX


def test_a_full_layer_grows_channels_an_active_top_grows_layers_and_late_mass_grows_time():
    r = region([[1, 1, 1, 1], [0, 0.5, 0, 0]], last_mass=0.2)
    grown = grown_box(BOX, r, GrowthConfig(channels=4), MAX, time_threshold=0.05)
    assert grown == Box(layers=3, channels=6, steps=4)  # capped at the maximum


def test_growth_can_be_switched_off():
    r = region([[1, 1, 1, 1], [1, 1, 1, 1]], last_mass=0.9)
    assert grown_box(BOX, r, GrowthConfig(enabled=False), MAX, time_threshold=0.05) == BOX
