"""Breadth and depth pressure as a proximal step: exact, switches channels and layers off,
keeps them off, and answers its weight in a run."""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from growsim.cli import main
from growsim.model import costs
from growsim.model.proximal import apply_pressure, pressure_learning_rate
from growsim.spec import parse_spec
from growsim.train.trainer import Trainer


@st.composite
def pressed_layers(draw):
    """Random incoming weights of a small lattice and pressure weights (float64)."""
    layers = draw(st.integers(1, 3))
    channels = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    scales = torch.rand(layers, channels, 1, 1, generator=generator, dtype=torch.float64) * 2
    weights = [
        {"bottom_up": torch.randn(channels, 2, 3, generator=generator, dtype=torch.float64) * s,
         "lateral": torch.randn(channels, channels, 3, generator=generator, dtype=torch.float64) * s}
        for s in scales
    ]  # fmt: skip
    breadth = draw(st.floats(0.0, 3.0))
    depth = draw(st.floats(0.0, 3.0))
    return weights, breadth, depth


def pressure_objective(weights, reference, rank_weights, breadth, depth, max_layers):
    """1/2 ||w - v||^2 + breadth * sum w(rank) m(l,c) + depth * sum g(l) M(l), ranks fixed."""
    distance = sum(((w - r) ** 2).sum() for layer, ref in zip(weights, reference)
                   for w, r in zip(layer.values(), ref.values()))  # fmt: skip
    magnitudes = costs.channel_magnitudes(weights)
    return (0.5 * distance + breadth * (rank_weights * magnitudes).sum()
            + depth * costs.depth_cost(magnitudes, max_layers))  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(pressed_layers(), st.integers(0, 10_000))
def test_the_pressure_step_is_the_exact_proximal_operator(case, seed):
    """No point near the result has a lower penalised objective: prox(v) is its minimiser."""
    reference, breadth, depth = case
    max_layers, max_channels = len(reference) + 1, 5
    rank_weights = costs.rank_weights(costs.channel_magnitudes(reference), max_channels, 1.0)
    result = [{k: v.clone() for k, v in layer.items()} for layer in reference]
    apply_pressure(result, None, breadth, depth, 1.0, max_channels, max_layers)
    best = pressure_objective(result, reference, rank_weights, breadth, depth, max_layers)
    generator = torch.Generator().manual_seed(seed)
    for scale in (1e-4, 1e-2, 0.3):
        for _ in range(10):
            moved = [{k: v + scale * torch.randn(v.shape, generator=generator, dtype=v.dtype)
                      for k, v in layer.items()} for layer in result]  # fmt: skip
            value = pressure_objective(moved, reference, rank_weights, breadth, depth, max_layers)
            assert value >= best - 1e-9


def test_a_channel_below_its_threshold_becomes_exactly_zero_and_one_above_loses_it():
    # one layer, two channels of norm 3 and 1; ranks 0 and 1 of max 2 -> w = 1/2 and 1
    weights = [{"bottom_up": torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)}]
    apply_pressure(weights, None, breadth_weight=1.5, depth_weight=0.0, learning_rate=1.0,
                   max_channels=2, max_layers=1)  # fmt: skip
    assert torch.equal(weights[0]["bottom_up"][1], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(weights[0]["bottom_up"][0], torch.tensor([3.0 - 0.75, 0.0]).double())


def test_depth_pressure_switches_a_whole_layer_off_and_never_layer_0():
    weights = [{"bottom_up": torch.full((3, 4), 0.1)} for _ in range(3)]
    # M(l) = sqrt(12 * 0.01) ~ 0.35; g = 0, 1/2, 1: threshold 0.5 and 1 at depth weight 1
    apply_pressure(weights, None, 0.0, 1.0, 1.0, max_channels=3, max_layers=3)
    assert torch.equal(weights[0]["bottom_up"], torch.full((3, 4), 0.1))
    assert torch.count_nonzero(weights[1]["bottom_up"]) == 0
    assert torch.count_nonzero(weights[2]["bottom_up"]) == 0


def test_adam_second_moments_set_the_step_the_threshold_is_measured_in():
    weights = [{"bottom_up": torch.tensor([[0.5, 0.0]], dtype=torch.float64)}]
    moments = [{"bottom_up": torch.full((1, 2), 0.04, dtype=torch.float64)}]  # sqrt = 0.2
    # step = lr / 0.2 = 0.05: threshold 0.05 * 4 * w(rank 0 of 1) = 0.2
    apply_pressure(weights, moments, 4.0, 0.0, 0.01, max_channels=1, max_layers=1)
    assert torch.allclose(weights[0]["bottom_up"], torch.tensor([[0.3, 0.0]]).double())


def tiny(tiny_spec, *overrides):
    return parse_spec(tiny_spec.read_text(), source=str(tiny_spec), overrides=list(overrides))


def test_pressed_channels_stay_exactly_off_while_the_pressure_stays(tiny_spec, tmp_path):
    """No flicker: after the pressure has switched channels off, each one that is off stays
    at exactly zero at every later iteration (a cost applied as an Adam gradient keeps
    them jittering at about lr * sqrt(fan_in), above zero)."""
    spec = tiny(tiny_spec, "costs.breadth.weight=0.02", "growth.enabled=false",
                "compaction.enabled=false", "training.iterations=400")  # fmt: skip
    trainer = Trainer(spec, tmp_path / "run", progress=False)
    for iteration in range(250):
        trainer.train_step(iteration)
    off_before = costs.channel_magnitudes(trainer.model.incoming_weights()) == 0
    assert off_before.sum() >= 3, "the pressure should have switched channels off"
    switched_on = torch.zeros_like(off_before)
    for iteration in range(250, 400):
        trainer.train_step(iteration)
        magnitudes = costs.channel_magnitudes(trainer.model.incoming_weights())
        switched_on |= off_before & (magnitudes > 0)
    assert int(switched_on.sum()) == 0


def run_final(tiny_spec, out, name, *overrides):
    args = ["run", str(tiny_spec), "--out", str(out), "--no-progress", "--name", name]
    for override in overrides:
        args += ["--set", override]
    assert main(args) == 0
    return xr.open_zarr(out / name / "trajectory.zarr").isel(checkpoint=-1).load()


def test_depth_pressure_ends_shallower(tiny_spec, tmp_path):
    common = ("lattice.layers.initial=3", "lattice.layers.max=3", "growth.enabled=false",
              "training.iterations=300")  # fmt: skip
    free = run_final(tiny_spec, tmp_path, "free", *common)
    pressed = run_final(tiny_spec, tmp_path, "pressed", *common, "costs.depth.weight=0.3")
    assert int(free.depth) == 3
    assert int(pressed.depth) < int(free.depth)
    assert not bool(pressed.layer_active.sel(layer=2))  # the top layer goes first


class GraphCounter:
    """A torch.compile backend that counts the graphs it is given and runs them as they are."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph_module, example_inputs):
        self.graphs += 1
        return graph_module.forward


@pytest.mark.parametrize("centred", [False, True])
def test_a_ramped_time_weight_compiles_one_graph_per_box(tiny_spec, tmp_path, centred):
    spec = tiny(tiny_spec, "training.compile=on", "growth.enabled=false",
                f"lattice.halting_centred={str(centred).lower()}",
                "costs.time.schedule.kind=linear", "costs.time.schedule.ramp=30",
                "costs.breadth.weight=0.01", "costs.breadth.schedule.kind=linear",
                "costs.breadth.schedule.ramp=30")  # fmt: skip
    counter = GraphCounter()
    trainer = Trainer(spec, tmp_path / "run", progress=False, compile_backend=counter)
    trainer.train_step(0)
    first = counter.graphs
    assert first >= 1
    for iteration in range(1, 40):  # the weights change at every one of these
        trainer.train_step(iteration)
    assert trainer.cost_weights(5)["time"] != trainer.cost_weights(6)["time"]
    assert counter.graphs == first


def test_costs_are_wired_to_every_weight_that_writes_into_a_channel(tiny_spec, tmp_path):
    spec = tiny(tiny_spec, "lattice.layers.initial=2")
    model = Trainer(spec, tmp_path / "run", progress=False).model
    magnitudes = costs.channel_magnitudes(model.incoming_weights())
    for layer in range(2):
        for channel in range(model.box.channels):
            parts = [model.bottom_up[layer][channel], model.lateral[layer][channel]]
            if layer == 0:
                parts.append(model.top_down[0][channel])  # top-down from layer 1 into layer 0
            expected = torch.sqrt(sum(p.detach().square().sum() for p in parts))
            assert torch.isclose(magnitudes[layer, channel], expected, rtol=1e-5)
    assert len(model.top_down) == 1  # the top layer has nothing above it


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_the_time_weight_enters_the_loss_once(tiny_spec, tmp_path, weight):
    from growsim.model.objective import loss_terms

    trainer = Trainer(tiny(tiny_spec), tmp_path / "run", progress=False)
    images, labels = trainer.batch(0)
    total, task, time_cost, _ = loss_terms(trainer.model, images, labels, torch.tensor(weight), 0.0)
    assert torch.isclose(total, task + weight * time_cost)
    assert np.isfinite(float(time_cost)) and 1.0 <= float(time_cost) <= trainer.model.box.steps


def test_every_box_gets_its_own_graph_past_the_recompile_limit(tiny_spec, tmp_path):
    from growsim.model.lattice import Box

    spec = tiny(tiny_spec, "training.compile=on", "lattice.channels.max=30")
    counter = GraphCounter()
    trainer = Trainer(spec, tmp_path / "run", progress=False, compile_backend=counter)
    trainer.train_step(0)
    per_box = counter.graphs
    for grown in range(1, 11):  # more box sizes than dynamo's default recompile limit (8)
        box = trainer.model.box
        trainer._grow(Box(box.layers, box.channels + 1, box.steps))
        trainer.train_step(grown)
        trainer.train_step(grown + 100)
    assert counter.graphs == per_box * 11


def test_pressure_on_a_one_step_box_whose_recurrent_weights_never_had_a_gradient(
    tiny_spec, tmp_path
):
    spec = tiny(tiny_spec, "lattice.steps.initial=1", "lattice.steps.max=1",
                "costs.breadth.weight=0.1", "costs.depth.weight=0.1")  # fmt: skip
    trainer = Trainer(spec, tmp_path / "run", progress=False)
    for iteration in range(3):
        trainer.train_step(iteration)  # lateral/top-down have no Adam state: no KeyError
    assert torch.isfinite(costs.channel_magnitudes(trainer.model.incoming_weights())).all()


def test_sgd_pressure_is_measured_in_the_step_momentum_settles_at(tiny_spec, tmp_path):
    spec = tiny(tiny_spec, "training.optimizer=sgd", "training.lr=0.05")
    trainer = Trainer(spec, tmp_path / "run", progress=False)
    assert pressure_learning_rate(trainer.optimizer) == pytest.approx(0.05 / (1 - 0.9))


def test_growth_decisions_see_every_step_even_with_early_exit(tiny_spec, tmp_path):
    spec = tiny(tiny_spec, "record.exit_threshold=0.4", "lattice.steps.initial=3")
    trainer = Trainer(spec, tmp_path / "run", progress=False)
    with torch.no_grad():
        trainer.model.halting_bias.copy_(torch.tensor([2.0, 0.0, 0.0]))  # p ~ [0.88, 0.06, 0.06]
    validation = trainer.evaluate("validation")
    trainer.model.eval()
    with torch.no_grad():
        exact = trainer.model(trainer.data.normalise(trainer.data.validation_sets[0])).step_probs
    assert np.allclose(validation.time_distribution, exact.mean(dim=0).numpy(), atol=1e-6)
    assert validation.time_distribution[-1] > 0.01  # early exit would have folded it away


def test_after_time_growth_the_old_last_step_gets_adam_state_like_its_neighbours(
    tiny_spec, tmp_path
):
    from growsim.model.lattice import Box

    trainer = Trainer(tiny(tiny_spec, "lattice.steps.initial=3"), tmp_path / "run", progress=False)
    for iteration in range(20):
        trainer.train_step(iteration)
    state = trainer.optimizer.state[trainer.model.halting_bias]
    assert state["exp_avg_sq"][2] == 0  # the last step's halting logit is unused
    box = trainer.model.box
    trainer._grow(Box(box.layers, box.channels, box.steps + 1))
    state = trainer.optimizer.state[trainer.model.halting_bias]
    assert state["exp_avg_sq"][2] == pytest.approx(float(state["exp_avg_sq"][:2].mean()))
    assert state["exp_avg"][2] == 0


def test_a_cost_without_weight_does_not_hold_growth_back(tiny_spec, tmp_path):
    spec = tiny(tiny_spec, "costs.breadth.schedule.delay=100000")  # weight 0 in the tiny spec
    trainer = Trainer(spec, tmp_path / "run", progress=False)
    trainer.iteration = 10
    assert trainer._costs_at_full_weight()
    spec = tiny(tiny_spec, "costs.breadth.weight=0.01", "costs.breadth.schedule.delay=100000")
    trainer = Trainer(spec, tmp_path / "run2", progress=False)
    trainer.iteration = 10
    assert not trainer._costs_at_full_weight()
