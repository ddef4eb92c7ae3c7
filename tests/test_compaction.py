"""Compaction packs the network exactly; early exit stays within its bound."""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from growsim.cli import main
from growsim.model.compaction import CompactionPlan, plan_compaction
from growsim.model.lattice import Box, LatticeNetwork
from growsim.model.reshape import compact, grow, prune
from growsim.train.checkpoint_file import read_checkpoint


def network(
    box, time_mode="adaptive", connections=("bottom_up", "lateral", "top_down"), seed=1, grid=1
):
    net = LatticeNetwork(box, 1, 5, connections=connections, time_mode=time_mode,
                         generator=torch.Generator().manual_seed(seed), readout_grid=grid)  # fmt: skip
    with torch.no_grad():  # input-dependent, far from uniform time selection
        generator = torch.Generator().manual_seed(seed + 1)
        net.halting_bias.normal_(0, 1, generator=generator)
        if time_mode == "adaptive":
            net.halting_weight.normal_(0, 1, generator=generator)
            net.halting_confidence.fill_(1.5)
    return net


def images(count=5, seed=3):
    return torch.randn(count, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


@settings(max_examples=25, deadline=None)
@given(
    layers=st.integers(1, 4), channels=st.integers(2, 8), steps=st.integers(1, 5),
    data=st.data(), time_mode=st.sampled_from(["fixed", "adaptive"]),
    connections=st.sampled_from([("bottom_up", "lateral", "top_down"), ("bottom_up", "lateral"), ("bottom_up",)]),
    grid=st.sampled_from([1, 2]),
)  # fmt: skip
def test_packing_is_exact(layers, channels, steps, data, time_mode, connections, grid):
    net = network(Box(layers, channels, steps), time_mode, connections, grid=grid)
    kept = data.draw(st.lists(st.integers(0, channels - 1), min_size=1, unique=True))
    keep_layers = data.draw(st.integers(1, layers))
    plan = CompactionPlan(tuple(sorted(kept)), keep_layers, data.draw(st.integers(1, steps)))
    prune(net, plan)  # the part that changes the output ...
    before = net(images())
    ids = net.channel_ids[list(plan.channels)].clone()
    compact(net, plan)  # ... and the part that must not
    after = net(images())
    assert net.box == plan.box()
    assert net.channel_ids.tolist() == ids.tolist()  # positions keep their lattice identity
    kept_steps = plan.steps
    torch.testing.assert_close(after.logits, before.logits[:, :kept_steps], atol=1e-5, rtol=1e-5)
    p_before, p_after = before.step_probs, after.step_probs
    torch.testing.assert_close(p_after[:, :-1], p_before[:, : kept_steps - 1], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(
        p_after[:, -1], p_before[:, kept_steps - 1 :].sum(1), atol=1e-6, rtol=1e-5
    )


def test_pruning_changes_the_output_only_by_the_dropped_weights():
    net = network(Box(2, 6, 3))
    with torch.no_grad():  # channels 3..5 nearly silent, as the breadth cost leaves them
        for weights in net.incoming_weights():
            for tensor in weights.values():
                tensor[3:] *= 1e-4
    before = net(images()).class_probs()
    compact(net, CompactionPlan((0, 1, 2), 2, 3))
    assert (net(images()).class_probs() - before).abs().max() < 1e-3


def test_growth_after_compaction_fills_free_identities():
    net = network(Box(2, 8, 3))
    compact(net, CompactionPlan((1, 4, 6), 2, 3))
    grow(net, Box(2, 6, 3))
    assert net.channel_ids.tolist() == [1, 4, 6, 0, 2, 3]


def test_plan_keeps_a_margin_and_only_pays_when_worth_it():
    active = np.zeros((3, 16), bool)
    active[0, [0, 5]] = active[1, [5, 9]] = True  # layer 2 silent
    probs = np.array([0.7, 0.299, 0.001, 0.0, 0.0, 0.0])
    plan = plan_compaction(active, probs, Box(3, 16, 6), margin=2, min_fraction=0.25,
                           step_mass=0.005, fold_possible=True)  # fmt: skip
    assert plan.channels == (0, 1, 2, 5, 9)  # the active ones and two spare
    assert plan.layers == 3  # the silent top layer stays as the margin for depth
    assert plan.steps == 3  # step 3 (index 2) now last, with 0.001 < 0.005 of the mass
    assert plan_compaction(np.ones((3, 16), bool), np.array([0.5, 0.5]), Box(3, 16, 2),
                           2, 0.25, 0.005, True) is None  # fmt: skip


def test_early_exit_is_within_its_bound_and_saves_steps():
    net = network(Box(2, 6, 6), seed=4)
    with torch.no_grad():
        net.halting_bias.fill_(1.0)  # most inputs are done after a few steps
    x = images(64)
    exact = net(x).class_probs()
    full = net.predict(x, exit_threshold=0.0)
    torch.testing.assert_close(full.class_probs, exact, atol=1e-6, rtol=1e-5)
    assert (full.steps_computed == 6).all()
    for threshold in (0.01, 0.05, 0.2):
        early = net.predict(x, exit_threshold=threshold)
        assert (early.class_probs - exact).abs().max() <= threshold + 1e-6
        assert early.steps_computed.float().mean() < 6
        margin = exact.topk(2).values
        clear = (margin[:, 0] - margin[:, 1]) > 2 * threshold
        assert (early.class_probs.argmax(1)[clear] == exact.argmax(1)[clear]).all()


def test_one_pass_at_several_thresholds_equals_one_predict_per_threshold():
    net = network(Box(2, 6, 6), seed=4)
    with torch.no_grad():  # halting that differs between inputs, as after training
        net.halting_bias.fill_(0.3)
        net.halting_weight.normal_(0.0, 3.0, generator=torch.Generator().manual_seed(1))
        net.halting_confidence.fill_(2.0)
    x = images(64)
    thresholds = (0.0, 0.02, 0.1, 0.3)
    together = net.predict_at(x, thresholds)
    for threshold, joint in zip(thresholds, together):
        alone = net.predict(x, exit_threshold=threshold)
        assert torch.equal(joint.steps_computed, alone.steps_computed)
        torch.testing.assert_close(joint.class_probs, alone.class_probs, atol=1e-6, rtol=0)
        torch.testing.assert_close(joint.step_probs, alone.step_probs, atol=1e-6, rtol=0)
    # the thresholds stop inputs at different steps, so the pass had inputs to drop
    assert len(set(together[2].steps_computed.tolist())) > 1
    assert (together[3].steps_computed < together[1].steps_computed).any()
    assert (together[0].steps_computed == 6).all()


def test_a_compacting_run_keeps_trajectory_coordinates(tiny_spec, tmp_path):
    # a strong breadth cost switches channels off; compaction then removes them
    args = ["run", str(tiny_spec), "--out", str(tmp_path), "--no-progress",
            "--set", "costs.breadth.weight=0.3", "--set", "training.iterations=400",
            "--set", "compaction.margin=1", "--set", "compaction.min_fraction=0.1"]  # fmt: skip
    assert main(args) == 0
    trajectory = xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr").load()
    shrank = (trajectory.growth.sel(resource="channel") < 0).any()
    assert bool(shrank), "expected compaction to shrink the channels"
    assert trajectory.sizes["channel"] == 10  # coordinates span the maximum box throughout
    last = trajectory.isel(checkpoint=-1)
    in_box = np.isfinite(last.channel_norm.values).sum(axis=1)
    assert (in_box[: int(last.box_layers)] == int(last.box_channels)).all()
    state = read_checkpoint(tmp_path / "tiny" / "checkpoint.pt", "cpu")
    ids = state["model"]["channel_ids"].numpy()
    np.testing.assert_array_equal(
        np.flatnonzero(np.isfinite(last.channel_norm.values[0])), np.sort(ids)
    )
    # resuming a compacted run loads it (shapes below the initial box included)
    assert main(args + ["--resume"]) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_forward_matches_cpu():
    net = network(Box(2, 6, 3))
    x = images()
    cpu = net(x).class_probs()
    gpu = net.to("cuda")(x.to("cuda")).class_probs().cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
    early = net.predict(x.to("cuda"), exit_threshold=0.05)
    assert (early.class_probs.cpu() - cpu).abs().max() <= 0.05 + 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_tiny_run_trains_on_cuda_compiled(tiny_spec, tmp_path):
    args = ["run", str(tiny_spec), "--out", str(tmp_path), "--no-progress",
            "--set", "training.device=cuda", "--set", "training.compile=on",
            "--set", "training.iterations=100", "--set", "record.every=50"]  # fmt: skip
    assert main(args) == 0
    trajectory = xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr")
    assert np.isfinite(trajectory.validation_accuracy.values).all()
    assert np.isfinite(trajectory.test_accuracy.values[-1])
