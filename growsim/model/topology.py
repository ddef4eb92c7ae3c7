"""Topology of the active subgraph, unrolled over time steps (Numba-compiled).

Nodes are active lattice positions (layer, channel) copied at every step t. Edges are the
learned connections whose kernel norm is above threshold between two active channels:

    bottom-up  (l-1, j, t) -> (l, i, t)
    lateral    (l,   j, t-1) -> (l, i, t)
    top-down   (l+1, j, t-1) -> (l, i, t)

The input drives layer-0 nodes whose input kernel is above threshold, at every step; the
readout at step t reads the top layer's nodes at step t. The unrolled graph is a DAG (by
step, then layer), so path lengths and counts are dynamic programmes over it. The residual
identity along depth is not a learned connection and is not an edge here: this describes
the graph the costs shaped, and a layer fully off cuts every learned path.

Path length counts connections traversed, the input connection included (a layer-0 node
the input drives has length 1). Path counts are kept as natural logarithms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

EDGE_TYPES = ("bottom_up", "lateral", "top_down")


@dataclass
class Topology:
    """Topology metrics of one network."""

    active_nodes: int  # active lattice positions (layer, channel)
    edge_counts: np.ndarray  # (connection, layer): active edges into each layer, per type
    on_path: np.ndarray  # (step,): unrolled nodes on some input -> readout(t) path
    dead_units: int  # active positions on no input -> readout path at any step
    longest_path: np.ndarray  # (step,): 0 where no path reaches readout(t)
    shortest_path: np.ndarray  # (step,)
    log_path_count: np.ndarray  # (step,): log number of input -> readout(t) paths; -inf if none
    components: int  # connected components of the (not unrolled) active graph


def edge_masks(
    kernel_norms: list[dict[str, np.ndarray]],
    active: np.ndarray,
    edge_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boolean edge masks from per-layer kernel norms.

    ``kernel_norms[l][type]`` is (out_channel, in_channel): the L2 norm of each kernel of
    that connection type into layer l (bottom_up of layer 0 reads the image). A kernel is an
    edge when norm * sqrt(kernels into the channel) > ``edge_threshold`` (a fresh channel's
    kernels sit near 1 on that scale) and both ends are active.

    Returns ``inputs`` (channel,) and ``bottom_up``, ``lateral``, ``top_down``, each
    (layer, target channel, source channel); source channels of bottom_up live in layer l-1,
    of top_down in layer l+1.
    """
    layers, channels = active.shape
    masks = {kind: np.zeros((layers, channels, channels), dtype=np.bool_) for kind in EDGE_TYPES}
    inputs = np.zeros(channels, dtype=np.bool_)
    for layer, norms in enumerate(kernel_norms):
        kernels_in = sum(n.shape[1] for n in norms.values())
        scale = np.sqrt(kernels_in)
        for kind, norm in norms.items():
            strong = np.asarray(norm) * scale > edge_threshold
            if kind == "bottom_up" and layer == 0:
                inputs = strong.any(axis=1) & active[0]
                continue
            source_layer = {"bottom_up": layer - 1, "lateral": layer, "top_down": layer + 1}[kind]
            both = active[layer][:, None] & active[source_layer][None, :]
            masks[kind][layer] = strong & both
    return inputs, masks["bottom_up"], masks["lateral"], masks["top_down"]


def analyse(
    active: np.ndarray,
    inputs: np.ndarray,
    bottom_up: np.ndarray,
    lateral: np.ndarray,
    top_down: np.ndarray,
    steps: int,
) -> Topology:
    """All topology metrics of the active graph unrolled over ``steps`` steps."""
    active = np.ascontiguousarray(active, dtype=np.bool_)
    args = (
        active,
        np.ascontiguousarray(inputs, dtype=np.bool_),
        np.ascontiguousarray(bottom_up, dtype=np.bool_),
        np.ascontiguousarray(lateral, dtype=np.bool_),
        np.ascontiguousarray(top_down, dtype=np.bool_),
    )
    longest, shortest, log_paths = _forward(*args, steps)
    on_path, on_any = _on_path(*args, steps, longest)
    edge_counts = np.stack([m.sum(axis=(1, 2)) for m in (bottom_up, lateral, top_down)]).astype(
        np.int64
    )
    return Topology(
        active_nodes=int(active.sum()),
        edge_counts=edge_counts,
        on_path=on_path,
        dead_units=int((active & ~on_any).sum()),
        longest_path=_readout_max(longest),
        shortest_path=_readout_min(shortest),
        log_path_count=_readout_logsum(log_paths),
        components=int(_components(*args)),
    )


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True)
def _forward(active, inputs, bottom_up, lateral, top_down, steps):
    """Longest, shortest and log-count of input paths ending at each node (step, layer, ch).

    Unreachable nodes: longest 0, shortest 0, log count -inf.
    """
    layers, channels = active.shape
    longest = np.zeros((steps, layers, channels), dtype=np.int64)
    shortest = np.zeros((steps, layers, channels), dtype=np.int64)
    log_paths = np.full((steps, layers, channels), -np.inf)
    big = 1 << 60
    for t in range(steps):
        for l in range(layers):
            for i in range(channels):
                if not active[l, i]:
                    continue
                best, least, total = 0, big, -np.inf
                if l == 0 and inputs[i]:
                    best, least, total = 1, 1, 0.0
                for j in range(channels):
                    if l > 0 and bottom_up[l, i, j] and longest[t, l - 1, j] > 0:
                        best = max(best, longest[t, l - 1, j] + 1)
                        least = min(least, shortest[t, l - 1, j] + 1)
                        total = np.logaddexp(total, log_paths[t, l - 1, j])
                    if t > 0 and lateral[l, i, j] and longest[t - 1, l, j] > 0:
                        best = max(best, longest[t - 1, l, j] + 1)
                        least = min(least, shortest[t - 1, l, j] + 1)
                        total = np.logaddexp(total, log_paths[t - 1, l, j])
                    if (
                        t > 0
                        and l + 1 < layers
                        and top_down[l, i, j]
                        and longest[t - 1, l + 1, j] > 0
                    ):
                        best = max(best, longest[t - 1, l + 1, j] + 1)
                        least = min(least, shortest[t - 1, l + 1, j] + 1)
                        total = np.logaddexp(total, log_paths[t - 1, l + 1, j])
                if best > 0:
                    longest[t, l, i] = best
                    shortest[t, l, i] = least
                    log_paths[t, l, i] = total
    return longest, shortest, log_paths


@numba.njit(cache=True)
def _on_path(active, inputs, bottom_up, lateral, top_down, steps, longest):
    """Per readout step, how many unrolled nodes lie on an input -> readout path; and which
    lattice positions do so for some readout step."""
    layers, channels = active.shape
    counts = np.zeros(steps, dtype=np.int64)
    on_any = np.zeros((layers, channels), dtype=np.bool_)
    for readout in range(steps):
        reaches = np.zeros((steps, layers, channels), dtype=np.bool_)  # reaches readout
        for i in range(channels):
            reaches[readout, layers - 1, i] = active[layers - 1, i]
        for t in range(readout, -1, -1):
            for l in range(layers - 1, -1, -1):
                for i in range(channels):
                    if not reaches[t, l, i]:
                        continue
                    # propagate backwards to the sources of node (t, l, i)
                    for j in range(channels):
                        if l > 0 and bottom_up[l, i, j]:
                            reaches[t, l - 1, j] = True
                        if t > 0 and lateral[l, i, j]:
                            reaches[t - 1, l, j] = True
                        if t > 0 and l + 1 < layers and top_down[l, i, j]:
                            reaches[t - 1, l + 1, j] = True
        count = 0
        for t in range(readout + 1):
            for l in range(layers):
                for i in range(channels):
                    if reaches[t, l, i] and longest[t, l, i] > 0:
                        count += 1
                        on_any[l, i] = True
        counts[readout] = count
    return counts, on_any


@numba.njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _components(active, inputs, bottom_up, lateral, top_down):
    """Connected components of active positions joined by any edge (undirected)."""
    layers, channels = active.shape
    parent = np.arange(layers * channels)
    for l in range(layers):
        for i in range(channels):
            if not active[l, i]:
                continue
            for j in range(channels):
                a = l * channels + i
                if l > 0 and bottom_up[l, i, j]:
                    parent[_find(parent, a)] = _find(parent, (l - 1) * channels + j)
                if lateral[l, i, j]:
                    parent[_find(parent, a)] = _find(parent, l * channels + j)
                if l + 1 < layers and top_down[l, i, j]:
                    parent[_find(parent, a)] = _find(parent, (l + 1) * channels + j)
    count = 0
    for l in range(layers):
        for i in range(channels):
            node = l * channels + i
            if active[l, i] and _find(parent, node) == node:
                count += 1
    return count


def _readout_max(longest: np.ndarray) -> np.ndarray:
    return longest[:, -1, :].max(axis=1, initial=0)


def _readout_min(shortest: np.ndarray) -> np.ndarray:
    top = shortest[:, -1, :]
    reached = np.where(top > 0, top, np.iinfo(np.int64).max)
    least = reached.min(axis=1, initial=np.iinfo(np.int64).max)
    return np.where(least == np.iinfo(np.int64).max, 0, least)


def _readout_logsum(log_paths: np.ndarray) -> np.ndarray:
    top = log_paths[:, -1, :]
    peak = top.max(axis=1, initial=-np.inf)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(
            np.isfinite(peak), safe + np.log(np.exp(top - safe[:, None]).sum(axis=1)), -np.inf
        )
