"""Shared fixtures: a tiny spec that trains in seconds."""

import pytest

TINY_SPEC = """
name: tiny
lattice:
  layers: {initial: 1, max: 2}
  channels: {initial: 6, max: 10}
  steps: {initial: 2, max: 3}
  input_stride: 2
costs:
  breadth: {weight: 0.0}
  depth: {weight: 0.0}
  time: {weight: 0.01}
data:
  dataset: shapes
  classes: 3
  image_size: 20
  train_size: 600
  test_size: 150
  occlusion: {levels: [0.0, 0.3], patch_size: 4}
training:
  lr: 0.01
  batch_size: 32
  iterations: 300
  seed: 0
  threads: 1
record:
  every: 100
"""


@pytest.fixture
def tiny_spec(tmp_path):
    """Path of a spec that trains a small network on shapes in a few seconds."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path
