"""Topology analysis: Numba routines vs the plain-Python (networkx) reference, and its cost
per checkpoint as a fraction of a training epoch.

Lattice: 8 layers x 256 channels x 16 steps at 20% activity (issue #3). The reference is
the one the tests check against (tests/topology_reference.py).
"""

from __future__ import annotations

import time

import torch

from growsim.model.lattice import Box, LatticeNetwork
from growsim.model.topology import analyse
from tests.topology_reference import random_graph, reference_metrics

LAYERS, CHANNELS, STEPS, ACTIVITY, DENSITY = 8, 256, 16, 0.2, 0.1


def lattice_graph(seed: int = 0):
    """A random active graph of the benchmark's size."""
    return random_graph(LAYERS, CHANNELS, ACTIVITY, DENSITY, seed)


def best_of(function, repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def epoch_seconds(samples: int = 4000, batch: int = 64) -> float:
    """Seconds for one training epoch of the default shapes task at the quick spec's size."""
    net = LatticeNetwork(Box(3, 20, 4), in_channels=1, classes=6)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    images, labels = torch.randn(batch, 1, 28, 28), torch.randint(0, 6, (batch,))

    def step():
        output = net(images)
        loss = torch.nn.functional.cross_entropy(output.logits[:, -1], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    return best_of(step, 5) * (samples / batch)


def rows(quick: bool = False) -> list[dict]:
    """The topology rows: Numba against the networkx reference, and its cost per checkpoint."""
    graph = lattice_graph()
    analyse(*graph, STEPS)  # compile (cached on disk afterwards)
    numba_seconds = best_of(lambda: analyse(*graph, STEPS), 5)
    reference_seconds = best_of(lambda: reference_metrics(*graph, STEPS), 1)
    epoch = epoch_seconds()
    edges = sum(int(m.sum()) for m in graph[2:])
    lattice = f"{LAYERS} x {CHANNELS} x {STEPS} lattice, {ACTIVITY:.0%} active, {edges} edges"
    return [
        {"measure": f"topology analysis: Numba / networkx reference speed-up ({lattice})",
         "value": reference_seconds / numba_seconds, "unit": "x", "target": ">= 50",
         "detail": f"numba {numba_seconds:.4f} s, networkx {reference_seconds:.2f} s"},
        {"measure": "topology analysis per checkpoint / one training epoch",
         "value": numba_seconds / epoch, "unit": "fraction", "target": "< 0.01"},
    ]  # fmt: skip
