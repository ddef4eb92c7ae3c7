"""Topology analysis: Numba routines vs the plain-Python (networkx) reference, and its cost
per checkpoint as a fraction of a training epoch.

Lattice: 8 layers x 256 channels x 16 steps at 20% activity (issue #3). The reference is
the one the tests check against (tests/topology_reference.py).
"""

from __future__ import annotations

import time

import torch

from growsim.lattice import Box, LatticeNetwork
from growsim.topology import analyse
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


def main() -> None:
    """Print the topology benchmark table."""
    graph = lattice_graph()
    analyse(*graph, STEPS)  # compile (cached on disk afterwards)
    numba_seconds = best_of(lambda: analyse(*graph, STEPS), 5)
    reference_seconds = best_of(lambda: reference_metrics(*graph, STEPS), 1)
    epoch = epoch_seconds()
    edges = sum(int(m.sum()) for m in graph[2:])
    print(f"topology: {LAYERS} layers x {CHANNELS} channels x {STEPS} steps, "
          f"{ACTIVITY:.0%} active, {edges} lattice edges")  # fmt: skip
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'numba analyse (s)':<44}{numba_seconds:>12.4f}")
    print(f"{'networkx reference (s)':<44}{reference_seconds:>12.2f}")
    print(
        f"{'speed-up numba / reference':<44}{reference_seconds / numba_seconds:>11.0f}x  (target >= 50x)"
    )
    print(f"{'one epoch of quick-spec training (s)':<44}{epoch:>12.2f}")
    print(f"{'topology per checkpoint / epoch':<44}{numba_seconds / epoch:>12.2%}  (target < 1%)")


if __name__ == "__main__":
    main()
