"""The lattice network: shapes, identity of silent layers, growth that keeps the function."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from growsim.model.lattice import Box, LatticeNetwork
from growsim.model.reshape import grow


def network(
    box, time_mode="adaptive", connections=("bottom_up", "lateral", "top_down"), seed=0, grid=1
):
    return LatticeNetwork(
        box, in_channels=1, classes=5, time_mode=time_mode, connections=connections,
        generator=torch.Generator().manual_seed(seed), readout_grid=grid,
    )  # fmt: skip


def images(count=6, seed=1):
    return torch.randn(count, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


def perturb_time_selection(net):
    """Make the time distribution input-dependent and far from its initial uniform shape."""
    with torch.no_grad():
        net.halting_bias.normal_(0, 1, generator=torch.Generator().manual_seed(5))
        if net.time_mode == "adaptive":
            net.halting_weight.normal_(0, 1, generator=torch.Generator().manual_seed(6))
            net.halting_confidence.fill_(2.0)


def test_a_spatial_readout_reads_where_a_feature_is():
    """With a 2 x 2 readout grid, the same features in another quadrant give other logits;
    a global average (grid 1) cannot tell them apart."""
    for grid, differs in ((1, False), (2, True)):
        net = network(Box(1, 2, 1), connections=("bottom_up",), grid=grid)
        with torch.no_grad():
            net.bottom_up[0].zero_()
            net.bottom_up[0][0, 0, 1, 1] = 1.0  # channel 0 copies the (strided) image
        left, right = torch.zeros(2, 1, 16, 16).unbind(0)
        left[:, 2:6, 2:6], right[:, 2:6, 10:14] = 1.0, 1.0
        logits = net(torch.stack([left, right])).logits[:, 0]
        assert net.readout_weight.shape == (5, 2, grid, grid)
        assert (not torch.allclose(logits[0], logits[1])) == differs


def test_output_shapes_and_distribution():
    net = network(Box(layers=2, channels=4, steps=3))
    output = net(images())
    assert output.logits.shape == (6, 3, 5)
    assert output.log_step_probs.shape == (6, 3)
    assert torch.allclose(output.step_probs.sum(dim=1), torch.ones(6))
    assert torch.allclose(output.class_probs().sum(dim=1), torch.ones(6))


def test_initial_time_distribution_is_uniform():
    output = network(Box(2, 4, 4), time_mode="fixed")(images())
    assert torch.allclose(output.step_probs, torch.full((6, 4), 0.25), atol=1e-6)


def test_adaptive_time_differs_between_inputs_and_fixed_does_not():
    adaptive, fixed = network(Box(2, 4, 3)), network(Box(2, 4, 3), time_mode="fixed")
    for net in (adaptive, fixed):
        perturb_time_selection(net)
    assert adaptive(images()).step_probs.std(dim=0).max() > 1e-3
    assert fixed(images()).step_probs.std(dim=0).max() < 1e-7


def test_a_layer_with_zero_weights_is_the_identity():
    net = network(Box(3, 4, 2), connections=("bottom_up", "lateral"))
    shallow = network(Box(2, 4, 2), connections=("bottom_up", "lateral"))
    with torch.no_grad():
        for name in ("bottom_up", "lateral"):
            for index in range(2):
                getattr(shallow, name)[index].copy_(getattr(net, name)[index])
            getattr(net, name)[2].zero_()
        shallow.readout_weight.copy_(net.readout_weight)
        shallow.halting_weight.copy_(net.halting_weight)
    assert torch.allclose(net(images()).logits, shallow(images()).logits, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 3), st.integers(2, 5), st.integers(1, 4),
    st.integers(0, 3), st.integers(0, 4), st.sampled_from(["fixed", "adaptive"]),
    st.integers(0, 1000), st.sampled_from([1, 2, 3]),
)  # fmt: skip
def test_growing_channels_and_layers_keeps_the_output_exactly(
    layers, channels, steps, more_layers, more_channels, time_mode, seed, grid
):
    net = network(Box(layers, channels, steps), time_mode=time_mode, seed=seed, grid=grid)
    perturb_time_selection(net)
    before = net(images())
    grow(net, Box(layers + more_layers, channels + more_channels, steps))
    after = net(images())
    assert net.box == Box(layers + more_layers, channels + more_channels, steps)
    assert torch.allclose(before.logits, after.logits, atol=1e-5)
    assert torch.allclose(before.step_probs, after.step_probs, atol=1e-6)


def trained_like(net, seed):
    """Random, large time-selection parameters, as a trained network has (not the zeros of a
    fresh one, whose per-input halting terms vanish)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in net.parameters():
            param.add_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * 0.5)
        net.halting_bias.normal_(0, 2, generator=generator)
        if net.time_mode == "adaptive":
            net.halting_weight.normal_(0, 4, generator=generator)
            net.halting_confidence.normal_(0, 4, generator=generator)
            net.halting_gain.uniform_(-2, 2, generator=generator)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 3), st.integers(2, 4), st.integers(1, 4), st.integers(0, 2),
    st.integers(0, 3), st.integers(0, 3), st.sampled_from(["fixed", "adaptive"]),
    st.sampled_from([1e-3, 1e-2, 0.2]), st.integers(0, 1000), st.sampled_from([1, 2]),
)  # fmt: skip
def test_growth_in_every_axis_changes_the_output_by_at_most_its_bound(
    layers, channels, steps, more_layers, more_channels, more_steps, time_mode, mass, seed, grid
):
    """Trained-like parameters, float64: channels and layers change nothing; new steps take
    exactly ``mass`` of each input's old last-step probability, and no class probability
    moves by more than that."""
    net = network(Box(layers, channels, steps), time_mode=time_mode, seed=seed, grid=grid).double()
    trained_like(net, seed)
    x = images().double()
    before = net(x)
    grow(net, Box(layers + more_layers, channels + more_channels, steps + more_steps), mass)
    after = net(x)
    old_last = before.step_probs[:, -1]
    if more_steps == 0:
        assert torch.allclose(after.step_probs, before.step_probs, rtol=0, atol=1e-12)
        assert torch.allclose(after.logits, before.logits, rtol=0, atol=1e-10)
        return
    assert torch.allclose(after.step_probs[:, : steps - 1], before.step_probs[:, :-1], atol=1e-12)
    new_mass = after.step_probs[:, steps:].sum(dim=1)
    assert torch.allclose(new_mass, mass * old_last, rtol=1e-9, atol=1e-15)
    assert torch.allclose(after.step_probs[:, steps - 1], (1 - mass) * old_last, rtol=1e-9)
    change = (after.class_probs() - before.class_probs()).abs().amax(dim=1)
    assert torch.all(change <= mass * old_last + 1e-12)


def test_grown_units_are_silent_but_learn():
    net = network(Box(2, 3, 2))
    grow(net, Box(3, 5, 2))
    assert torch.count_nonzero(net.bottom_up[2]) == 0  # new layer: zero incoming weights
    assert torch.count_nonzero(net.bottom_up[1][3:]) == 0  # new channels: zero rows
    loss = net(images()).logits.square().mean()
    loss.backward()
    assert net.bottom_up[2].grad.abs().sum() > 0
    assert net.bottom_up[1].grad[3:].abs().sum() > 0


def test_grow_refuses_to_shrink():
    with pytest.raises(ValueError, match="cannot shrink"):
        grow(network(Box(2, 4, 3)), Box(1, 4, 3))


@pytest.mark.parametrize("reads_confidence", [True, False])
def test_halting_reads_the_readout_confidence_only_when_asked(reads_confidence):
    """Changing only the readout moves each step's confidence but not the features: the time
    distribution follows it when halting reads the confidence, and not when it does not."""
    net = LatticeNetwork(
        Box(2, 4, 4), in_channels=1, classes=5, generator=torch.Generator().manual_seed(0),
        halting_reads_confidence=reads_confidence,
    )  # fmt: skip
    with torch.no_grad():
        net.halting_bias.normal_(0, 1, generator=torch.Generator().manual_seed(5))
        net.halting_weight.normal_(0, 1, generator=torch.Generator().manual_seed(6))
        if reads_confidence:
            net.halting_confidence.fill_(3.0)
    before = net(images()).step_probs
    with torch.no_grad():
        net.readout_weight.mul_(4.0)  # sharper readouts: higher confidence, same features
    after = net(images()).step_probs
    assert torch.allclose(before, after) != reads_confidence
    assert hasattr(net, "halting_confidence") == reads_confidence


def test_cpu_convolutions_run_channels_last_and_give_the_default_layouts_result(monkeypatch):
    from growsim.model import lattice

    net = network(Box(3, 8, 3))
    trained_like(net, seed=2)
    x = images(16)
    drive = net._input_drive(x)
    assert drive.is_contiguous(memory_format=torch.channels_last)
    assert not drive.is_contiguous()  # 8 channels: the layouts differ
    fast = net(x)
    monkeypatch.setattr(lattice, "conv_memory_format", lambda images: torch.contiguous_format)
    assert net._input_drive(x).is_contiguous()
    plain = net(x)
    torch.testing.assert_close(fast.logits, plain.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.log_step_probs, plain.log_step_probs, atol=1e-5, rtol=1e-5)


def test_centred_halting_sends_the_push_shared_by_every_input_to_the_bias_alone():
    """The centring hypothesis' mechanism: with positive-mean features and confidence, a
    gradient that pushes every input's halting logit alike moves w and k when uncentred,
    and only the bias when centred (the first training batch sets the means exactly)."""
    torch.manual_seed(0)
    features = torch.rand(32, 6) + 0.5  # pooled silu features: positive on average
    step_logits = torch.randn(32, 4)
    grads = {}
    for centred in (False, True):
        net = LatticeNetwork(Box(1, 6, 3), 1, 4, halting_centred=centred)
        net.halting_weight.data.normal_()
        net.train()
        net._halting_logit(features, step_logits, 0).sum().backward()
        grads[centred] = (
            net.halting_weight.grad,
            net.halting_confidence.grad,
            net.halting_bias.grad,
        )
    assert grads[False][0].abs().min() > 10 and grads[False][1].abs() > 1
    assert grads[True][0].abs().max() < 1e-4 and grads[True][1].abs() < 1e-4
    assert torch.equal(grads[True][2], grads[False][2])  # the bias takes the whole push


def test_centred_means_follow_growth_and_compaction_and_only_training_moves_them():
    from growsim.model.compaction import CompactionPlan
    from growsim.model.reshape import compact

    torch.manual_seed(0)
    net = LatticeNetwork(Box(2, 4, 2), 1, 3, halting_centred=True)
    images = torch.rand(8, 1, 12, 12)
    net.train()
    net(images).logits.sum().backward()
    assert int(net.halting_mean_batches) == 1
    means = net.halting_feature_mean.clone()
    assert means.abs().sum() > 0
    with torch.no_grad():
        net(images)  # no gradients: evaluation inside training leaves the means alone
    net.eval()
    net(images)
    assert torch.equal(net.halting_feature_mean, means)
    grow(net, Box(2, 6, 4))
    assert net.halting_feature_mean.shape == (4, 6)
    assert torch.equal(net.halting_feature_mean[:2, :4], means)
    assert torch.equal(net.halting_feature_mean[2:, :4], means[1:].expand(2, 4))
    assert net.halting_feature_mean[:, 4:].abs().sum() == 0  # new channels are silent
    grown = net.halting_feature_mean.clone()
    compact(net, CompactionPlan((1, 3, 5), 2, 3))
    assert torch.equal(net.halting_feature_mean, grown[:3, [1, 3, 5]])
    assert net.halting_confidence_mean.shape == (3,)
    prediction, output = net.predict(images), net(images)
    assert torch.allclose(prediction.step_probs, output.log_step_probs.exp(), atol=1e-5)
