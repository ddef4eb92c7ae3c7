"""A plain networkx reference for growsim.model.topology, built from the unrolled graph directly."""

import math

import networkx as nx
import numpy as np


def unrolled_graph(active, inputs, bottom_up, lateral, top_down, steps):
    """DiGraph with nodes (t, l, c), plus 'input' and ('readout', t)."""
    layers, channels = active.shape
    graph = nx.DiGraph()
    graph.add_node("input")
    for t in range(steps):
        graph.add_node(("readout", t))
        for l in range(layers):
            for i in range(channels):
                if not active[l, i]:
                    continue
                graph.add_node((t, l, i))
                if l == 0 and inputs[i]:
                    graph.add_edge("input", (t, l, i))
                if l == layers - 1:
                    graph.add_edge((t, l, i), ("readout", t))
                for j in range(channels):
                    if l > 0 and bottom_up[l, i, j]:
                        graph.add_edge((t, l - 1, j), (t, l, i))
                    if t > 0 and lateral[l, i, j]:
                        graph.add_edge((t - 1, l, j), (t, l, i))
                    if t > 0 and l + 1 < layers and top_down[l, i, j]:
                        graph.add_edge((t - 1, l + 1, j), (t, l, i))
    return graph


def reference_metrics(active, inputs, bottom_up, lateral, top_down, steps):
    """The same metrics as growsim.model.topology.analyse, computed the slow, obvious way."""
    graph = unrolled_graph(active, inputs, bottom_up, lateral, top_down, steps)
    from_input = nx.descendants(graph, "input")
    order = list(nx.topological_sort(graph))
    longest, shortest, log_count, on_path = [], [], [], []
    on_any = set()
    for t in range(steps):
        readout = ("readout", t)
        if readout not in from_input:
            longest.append(0)
            shortest.append(0)
            log_count.append(-math.inf)
            on_path.append(0)
            continue
        between = (from_input & nx.ancestors(graph, readout)) - {"input", readout}
        on_path.append(len(between))
        on_any |= {(l, i) for (_, l, i) in between}
        sub = graph.subgraph(between | {"input", readout})
        longest.append(nx.dag_longest_path_length(sub) - 1)
        shortest.append(nx.shortest_path_length(graph, "input", readout) - 1)
        counts = {"input": 1}
        for node in order:
            if node in sub and node != "input":
                counts[node] = sum(counts.get(p, 0) for p in sub.predecessors(node))
        log_count.append(math.log(counts[readout]))
    lattice = nx.Graph()
    layers, channels = active.shape
    lattice.add_nodes_from((l, i) for l in range(layers) for i in range(channels) if active[l, i])
    for l in range(layers):
        for i in range(channels):
            for j in range(channels):
                if l > 0 and bottom_up[l, i, j]:
                    lattice.add_edge((l, i), (l - 1, j))
                if lateral[l, i, j]:
                    lattice.add_edge((l, i), (l, j))
                if l + 1 < layers and top_down[l, i, j]:
                    lattice.add_edge((l, i), (l + 1, j))
    return {
        "longest_path": np.array(longest),
        "shortest_path": np.array(shortest),
        "log_path_count": np.array(log_count),
        "on_path": np.array(on_path),
        "dead_units": int(active.sum()) - len(on_any),
        "components": nx.number_connected_components(lattice),
        "edge_counts": np.stack([m.sum(axis=(1, 2)) for m in (bottom_up, lateral, top_down)]),
    }


def random_graph(layers, channels, activity, density, seed):
    """Random active mask, input mask and edge masks (edges only between active channels)."""
    rng = np.random.default_rng(seed)
    active = rng.random((layers, channels)) < activity
    inputs = (rng.random(channels) < 0.8) & active[0]
    masks = []
    for shift in (-1, 0, 1):  # bottom_up reads l-1, lateral l, top_down l+1
        mask = rng.random((layers, channels, channels)) < density
        for l in range(layers):
            source = l + shift
            if 0 <= source < layers:
                mask[l] &= active[l][:, None] & active[source][None, :]
            else:
                mask[l] = False
        masks.append(mask)
    return active, inputs, *masks
