"""Schedules of cost weights and learning rates, and the trainer applying them."""

import math

import pytest
import torch

from growsim.model.proximal import pressure_learning_rate
from growsim.spec import LearningRateSchedule, Schedule
from growsim.train.schedules import learning_rate_factor, schedule_factor


def test_a_linear_cost_schedule_is_zero_then_ramps_to_one():
    schedule = Schedule(kind="linear", delay=10, ramp=5)
    factors = [schedule_factor(schedule, i) for i in range(20)]
    assert factors[:10] == [0.0] * 10
    assert factors[10:15] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert factors[15:] == [1.0] * 5


def test_cosine_learning_rate_warms_up_then_decays_to_its_final_fraction():
    schedule = LearningRateSchedule(kind="cosine", warmup=4, final=0.1)
    total = 104
    factors = [learning_rate_factor(schedule, i, total) for i in range(total)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.1)
    after_warmup = factors[4:]
    assert all(a >= b for a, b in zip(after_warmup, after_warmup[1:]))
    middle = 4 + (total - 5) / 2
    assert learning_rate_factor(schedule, math.floor(middle), total) == pytest.approx(
        0.55, abs=0.02
    )


def test_a_constant_learning_rate_is_constant_after_warm_up():
    schedule = LearningRateSchedule(kind="constant", warmup=2)
    assert [learning_rate_factor(schedule, i, 10) for i in range(5)] == [0.5, 1.0, 1.0, 1.0, 1.0]


def test_the_trainer_sets_both_learning_rates_from_the_schedule(tiny_spec, tmp_path):
    from growsim.spec import load_spec
    from growsim.train.trainer import Trainer

    spec = load_spec(
        tiny_spec, ["training.lr_schedule.kind=cosine", "training.lr_schedule.warmup=2"]
    )
    trainer = Trainer(spec, tmp_path / "run", progress=False)
    total = trainer.total_iterations
    for iteration, factor in ((0, 0.5), (1, 1.0), (total - 1, 0.0)):
        trainer._set_learning_rates(iteration)
        lrs = [group["lr"] for group in trainer.optimizer.param_groups]
        assert lrs == pytest.approx([spec.training.lr * factor, spec.training.time_lr * factor])
    # and the proximal pressure takes its step size from the scheduled rate
    assert pressure_learning_rate(trainer.optimizer) == pytest.approx(0.0)
    assert torch.isfinite(torch.tensor(lrs)).all()
