"""Property tests of the breadth, depth and time costs and their gradients."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from growsim.model import costs
from growsim.model.halting import stick_breaking_log_probs


@pytest.fixture(autouse=True)
def float64():
    """gradcheck needs double precision; restore the default afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@st.composite
def lattice_weights(draw, zero_channels=False):
    """Per-layer incoming weights of a random small lattice (float64, distinct norms)."""
    layers = draw(st.integers(1, 4))
    channels = draw(st.integers(1, 6))
    fan_in = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    weights = []
    for _ in range(layers):
        layer = {
            "bottom_up": torch.randn(channels, fan_in, generator=generator),
            "lateral": torch.randn(channels, fan_in, 3, generator=generator),
        }
        if zero_channels:
            layer = {k: torch.zeros_like(v) for k, v in layer.items()}
        weights.append(layer)
    return weights


def flat(weights):
    return [w.clone().requires_grad_(True) for layer in weights for w in layer.values()]


def rebuild(tensors, like):
    it = iter(tensors)
    return [{k: next(it) for k in layer} for layer in like]


def distinct(magnitudes, gap=1e-3):
    """Ranks are only differentiable away from ties."""
    for row in magnitudes:
        values = np.sort(row.detach().numpy())
        if len(values) > 1 and np.min(np.diff(values)) < gap:
            return False
    return True


def breadth_of(weights, max_channels=8, exponent=1.0):
    return costs.breadth_cost(costs.channel_magnitudes(weights), max_channels, exponent)


def depth_of(weights, max_layers=5, exponent=1.0):
    return costs.depth_cost(costs.channel_magnitudes(weights), max_layers, exponent)


@settings(max_examples=25, deadline=None)
@given(lattice_weights(), st.floats(0.5, 2.0))
def test_breadth_and_depth_gradients_match_finite_differences(weights, exponent):
    assume(distinct(costs.channel_magnitudes(weights)))
    tensors = flat(weights)
    assert gradcheck(lambda *t: breadth_of(rebuild(t, weights), exponent=exponent), tensors)
    assert gradcheck(lambda *t: depth_of(rebuild(t, weights), exponent=exponent), tensors)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(2, 7), st.integers(0, 10_000))
def test_time_cost_gradient_matches_finite_differences(batch, steps, seed):
    logits = torch.randn(batch, steps, generator=torch.Generator().manual_seed(seed))
    logits.requires_grad_(True)
    assert gradcheck(lambda z: costs.time_cost(stick_breaking_log_probs(z).exp()), (logits,))


@settings(max_examples=40, deadline=None)
@given(lattice_weights(), st.data())
def test_breadth_cost_ignores_channel_order(weights, data):
    magnitudes = costs.channel_magnitudes(weights)
    permuted = torch.stack(
        [row[torch.tensor(data.draw(st.permutations(range(len(row)))))] for row in magnitudes]
    )
    assert torch.allclose(costs.breadth_cost(magnitudes, 8), costs.breadth_cost(permuted, 8))


@settings(max_examples=25, deadline=None)
@given(lattice_weights(zero_channels=True))
def test_zero_weights_cost_nothing_and_feel_no_gradient(weights):
    tensors = flat(weights)
    total = breadth_of(rebuild(tensors, weights)) + depth_of(rebuild(tensors, weights))
    total.backward()
    assert total.item() == 0.0
    assert all(t.grad is not None and torch.count_nonzero(t.grad) == 0 for t in tensors)


def test_the_costs_of_a_known_network_with_every_connection_type_and_an_exponent():
    """Two layers of two channels; magnitudes count every connection type writing into a
    channel: layer 0 has norms 5 (3, 4 over bottom-up and lateral) and 1, layer 1 norms 2
    and 0 (a silent channel)."""
    layers = [
        {
            "bottom_up": torch.tensor([[3.0, 0.0], [0.0, 1.0]]),
            "lateral": torch.tensor([[0.0, 4.0], [0.0, 0.0]]),
        },
        {
            "bottom_up": torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
            "top_down": torch.tensor([[2.0], [0.0]]),
        },
    ]
    magnitudes = costs.channel_magnitudes(layers)
    torch.testing.assert_close(magnitudes, torch.tensor([[5.0, 1.0], [2.0, 0.0]]))
    # breadth: rank r weighs ((r + 1) / max_channels)^2, max_channels 4 (the box may grow):
    # 5 (rank 0) and 2 (rank 0) at 1/16, 1 (rank 1) at 4/16, the silent channel costs nothing
    assert costs.breadth_cost(magnitudes, 4, exponent=2.0).item() == pytest.approx(
        5 / 16 + 1 / 4 + 2 / 16
    )
    # depth: layer l weighs (l / (max_layers - 1))^2 of its layer norm, max_layers 3
    assert costs.depth_cost(magnitudes, 3, exponent=2.0).item() == pytest.approx(
        0.0 * 26**0.5 + 0.25 * 2.0
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(0, 10_000), st.data())
def test_moving_time_mass_later_raises_the_time_cost(steps, seed, data):
    probs = torch.rand(steps, generator=torch.Generator().manual_seed(seed)) + 0.01
    probs = probs / probs.sum()
    source = data.draw(st.integers(0, steps - 2))
    target = data.draw(st.integers(source + 1, steps - 1))
    moved = probs.clone()
    amount = moved[source] * data.draw(st.floats(0.1, 1.0))
    moved[source] -= amount
    moved[target] += amount
    assert costs.time_cost(moved[None]) > costs.time_cost(probs[None])


@settings(max_examples=30, deadline=None)
@given(lattice_weights())
def test_breadth_and_depth_gradients_shrink_every_channel_they_press(weights):
    """A small step against the gradient lowers every pressed channel's magnitude; depth
    leaves layer 0 alone (g(0) = 0: it reads the image and cannot become the identity)."""
    for cost, first_pressed in ((breadth_of, 0), (depth_of, 1)):
        tensors = flat(weights)
        cost(rebuild(tensors, weights)).backward()
        stepped = [t.detach() - 1e-4 * t.grad for t in tensors]
        before = costs.channel_magnitudes(weights)
        after = costs.channel_magnitudes(rebuild(stepped, weights))
        assert torch.all(after[first_pressed:] < before[first_pressed:])
        assert torch.equal(after[:first_pressed], before[:first_pressed])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(2, 7), st.integers(0, 10_000))
def test_time_gradient_shortens_expected_steps(batch, steps, seed):
    logits = torch.randn(batch, steps, generator=torch.Generator().manual_seed(seed))
    logits.requires_grad_(True)
    cost = costs.time_cost(stick_breaking_log_probs(logits).exp())
    cost.backward()
    with torch.no_grad():
        after = costs.time_cost(stick_breaking_log_probs(logits - 1e-3 * logits.grad).exp())
    assert after < cost


def test_breadth_cost_presses_hardest_on_the_weakest_channel():
    magnitudes = torch.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    costs.breadth_cost(magnitudes, max_channels=3).backward()
    # rank 0 (3.0) -> 1/3, rank 1 (2.0) -> 2/3, rank 2 (1.0) -> 3/3
    assert torch.allclose(magnitudes.grad, torch.tensor([[1 / 3, 1.0, 2 / 3]]))


def test_depth_cost_is_a_layer_norm_weighted_from_zero_at_layer_0():
    magnitudes = torch.tensor([[3.0, 4.0], [3.0, 4.0], [6.0, 8.0]], requires_grad=True)
    cost = costs.depth_cost(magnitudes, max_layers=3)
    assert torch.isclose(cost, torch.tensor(0.5 * 5.0 + 1.0 * 10.0))  # g = 0, 1/2, 1
    cost.backward()
    assert torch.equal(magnitudes.grad[0], torch.zeros(2))
    assert torch.allclose(magnitudes.grad[1], 0.5 * torch.tensor([0.6, 0.8]))


def test_expected_steps_of_a_uniform_distribution_is_the_middle_step():
    for steps in (1, 2, 5, 8):
        uniform = torch.full((1, steps), 1.0 / steps)
        assert torch.isclose(costs.expected_steps(uniform)[0], torch.tensor((steps + 1) / 2))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(2, 7), st.integers(0, 10_000))
def test_stick_breaking_is_halting_times_survival(batch, steps, seed):
    logits = torch.randn(batch, steps, generator=torch.Generator().manual_seed(seed)) * 3
    halt = torch.sigmoid(logits)
    probs = stick_breaking_log_probs(logits).exp()
    for t in range(steps - 1):
        survival = torch.prod(1 - halt[:, :t], dim=1)
        assert torch.allclose(probs[:, t], halt[:, t] * survival, rtol=1e-10, atol=0)
    assert torch.allclose(probs[:, -1], torch.prod(1 - halt[:, :-1], dim=1), rtol=1e-10, atol=0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 8), st.integers(0, 10_000))
def test_stick_breaking_gives_a_distribution(batch, steps, seed):
    logits = torch.randn(batch, steps, generator=torch.Generator().manual_seed(seed)) * 5
    probs = stick_breaking_log_probs(logits).exp()
    assert torch.all(probs >= 0)
    assert torch.allclose(probs.sum(dim=1), torch.ones(batch))


def _halting_logits_for(probs: torch.Tensor) -> torch.Tensor:
    """Stick-breaking halting logits that give ``probs`` (batch, step) exactly."""
    survived = 1.0 - torch.cumsum(probs, dim=1) + probs  # mass not yet taken before step t
    halt = (probs / survived).clamp(1e-12, 1 - 1e-12)
    return torch.log(halt) - torch.log1p(-halt)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 3.0), min_size=2, max_size=6),
    st.floats(0.0, 0.5), st.floats(0.05, 2.0),
)  # fmt: skip
def test_the_entropy_bonus_makes_the_softmin_over_steps_the_optimum(
    step_losses, time_weight, entropy
):
    """Per input, sum_t p_t (CE_t + w t) - beta H(p) is stationary (zero gradient in every
    halting logit) exactly at p_t proportional to exp(-(CE_t + w t) / beta), and lower there
    than at a one-hot on the best step: the entropy term spreads time instead of locking it."""
    losses = torch.tensor(step_losses)[None]  # (1, step)
    steps = torch.arange(1, losses.shape[1] + 1, dtype=losses.dtype)
    target = torch.softmax(-(losses + time_weight * steps) / entropy, dim=1)
    assume(bool(target.min() > 1e-6))  # logits stay finite

    def objective(logits):
        log_p = stick_breaking_log_probs(logits)
        p = log_p.exp()
        return (
            (p * losses).sum()
            + time_weight * costs.time_cost(p)
            - entropy * costs.time_entropy(log_p)
        )

    logits = _halting_logits_for(target)[:, :-1]
    logits = torch.cat([logits, torch.zeros(1, 1)], dim=1).requires_grad_(True)
    (gradient,) = torch.autograd.grad(objective(logits), logits)
    assert gradient[:, :-1].abs().max() < 1e-8  # the last logit is unused (takes the rest)
    one_hot = torch.full_like(target, 1e-9)
    one_hot[0, int((losses + time_weight * steps).argmin())] = 1.0
    one_hot = one_hot / one_hot.sum()
    assert objective(logits) <= objective(_halting_logits_for(one_hot)) + 1e-9
