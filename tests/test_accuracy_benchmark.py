"""The accuracy benchmark: its plain nets compute growsim's function, they train on
growsim's batches, and its report has one row per model per spec."""

import contextlib
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.accuracy import fixed_box_spec, main, plain_loss, train_growsim
from benchmarks.accuracy_report import MODELS
from benchmarks.plain_nets import (
    FeedforwardConvNet,
    PlainRecurrentConvNet,
    copy_lattice_weights,
    plain_nets,
)
from growsim.model.lattice import Box
from growsim.spec import parse_spec

ITERATIONS = 30
SEEDS = (0, 1)

# A 2 x 4 x 2 box on a few hundred small shapes; `{extra}` varies connections and readout,
# `{seed}` the batch order.
TINY_SPEC = """
name: {name}
lattice:
  layers: {{initial: 1, max: 2}}
  channels: {{initial: 2, max: 4}}
  steps: {{initial: 1, max: 2}}
  {extra}
costs:
  breadth: {{weight: 0.05}}
  time: {{weight: 0.1}}
data:
  dataset: shapes
  classes: 3
  image_size: 16
  train_size: 300
  test_size: 100
  occlusion: {{levels: [0.0, 0.25], patch_size: 4}}
training:
  lr: 0.01
  lr_schedule: {{kind: cosine, warmup: 5}}
  step_supervision: 0.5
  batch_size: 32
  iterations: {steps}
  seed: {seed}
  threads: 1
"""
VARIANTS = {  # name: (lattice keys, training seed)
    "every_connection": ("connections: [bottom_up, lateral, top_down]", 0),
    "top_down_grid": ("connections: [bottom_up, top_down]\n  readout_grid: 2", 1),
}


def tiny_spec_text(variant: str, steps: int = ITERATIONS) -> str:
    extra, seed = VARIANTS[variant]
    return TINY_SPEC.format(name=variant, extra=extra, steps=steps, seed=seed)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The JSON report of the benchmark on both tiny specs, each with two seeds."""
    directory = tmp_path_factory.mktemp("accuracy")
    argv = ["--json", "--out", str(directory / "table.md")]
    for seed in SEEDS:
        argv += ["--seed", str(seed)]
    for variant in VARIANTS:
        path = directory / f"{variant}.yaml"
        path.write_text(tiny_spec_text(variant))
        argv += ["--spec", str(path)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    return json.loads(stdout.getvalue()), (directory / "table.md").read_text()


def test_report_has_one_row_per_model_per_spec_with_accuracies(report):
    result, table = report
    rows = result["rows"]
    assert sorted((r["spec"], r["seed"], r["model"]) for r in rows) == sorted(
        (spec, seed, model) for spec in VARIANTS for seed in SEEDS for model in MODELS
    )
    for row in rows:
        assert row["levels"] == [0.0, 0.25]
        assert len(row["accuracy"]) == 2
        assert all(0.0 <= a <= 1.0 for a in row["accuracy"])
        assert row["train_seconds"] > 0
    runs, means = table.split("\n\n")
    for spec in VARIANTS:  # every run's rows and growsim minus plain recurrent, per seed
        for seed in SEEDS:
            assert sum(line.startswith(f"| {spec} | shapes | {seed} |")
                       for line in runs.splitlines()) == 5  # fmt: skip
        assert sum(line.startswith(f"| {spec} | shapes | 0, 1 |")
                   for line in means.splitlines()) == 5  # fmt: skip


def test_every_net_trains_on_the_same_batches(report):
    """growsim and both plain nets draw the trainer's batches 0 .. steps-1: equal counts and
    an equal digest of the images and labels, in order. The seed sets the batches: both
    specs (same data) draw the same ones at one seed, other ones at another."""
    rows = report[0]["rows"]
    for spec in VARIANTS:
        for seed in SEEDS:
            nets = {r["model"]: r for r in rows
                    if (r["spec"], r["seed"]) == (spec, seed) and r["batches"] is not None}  # fmt: skip
            assert set(nets) == {"growsim", "plain_recurrent", "plain_feedforward"}
            assert {r["batches"] for r in nets.values()} == {ITERATIONS}
            assert len({r["batch_digest"] for r in nets.values()}) == 1
    digests = {(r["seed"], r["batch_digest"]) for r in rows if r["model"] == "growsim"}
    assert len(digests) == len({digest for _, digest in digests}) == len(SEEDS)


def test_plain_recurrent_net_has_growsims_size(report):
    """Equal size: growsim's parameters minus its halting terms (bias and gain per step, a
    weight per channel, the confidence multiple) are the plain recurrent net's."""
    rows = {(r["spec"], r["model"]): r for r in report[0]["rows"] if r["seed"] == 0}
    steps, channels = 2, 4
    for spec in VARIANTS:
        halting = 2 * steps + channels + 1
        growsim, plain = rows[spec, "growsim"], rows[spec, "plain_recurrent"]
        assert growsim["parameters"] - halting == plain["parameters"]


def test_differences_are_growsim_minus_plain_recurrent_in_points(report):
    result = report[0]
    rows = {(r["spec"], r["seed"], r["model"]): r for r in result["rows"]}
    assert len(result["differences"]) == len(VARIANTS) * len(SEEDS)
    for entry in result["differences"]:
        growsim = rows[entry["spec"], entry["seed"], "growsim"]["accuracy"]
        plain = rows[entry["spec"], entry["seed"], "plain_recurrent"]["accuracy"]
        assert entry["points"] == pytest.approx([100 * (g - p) for g, p in zip(growsim, plain)])


def test_means_over_seeds_have_t_intervals(report):
    """The second table's numbers: each model's mean accuracy over the seeds, and the mean
    of growsim minus plain recurrent, with 95% Student-t intervals across seeds."""
    from scipy.stats import t

    result = report[0]
    assert [entry["spec"] for entry in result["over_seeds"]] == list(VARIANTS)
    for entry in result["over_seeds"]:
        assert entry["seeds"] == list(SEEDS)
        for model in MODELS:
            runs = [r["accuracy"] for r in result["rows"]
                    if r["spec"] == entry["spec"] and r["model"] == model]  # fmt: skip
            for level, (mean, low, high) in enumerate(entry["accuracy"][model]):
                values = [run[level] for run in runs]
                half = t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
                assert (mean, low, high) == pytest.approx(
                    (np.mean(values), np.mean(values) - half, np.mean(values) + half)
                )
        gaps = [d["points"] for d in result["differences"] if d["spec"] == entry["spec"]]
        means = [level[0] for level in entry["gap_points"]]
        assert means == pytest.approx(np.mean(gaps, axis=0).tolist())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_plain_recurrent_net_computes_growsims_readouts(variant, tmp_path):
    """With a trained growsim network's weights copied in, the plain net gives the same
    readout logits at every step (the last one is its prediction)."""
    spec = parse_spec(tiny_spec_text(variant, steps=20))
    trainer, _ = train_growsim(spec, tmp_path / "run")
    lattice = trainer.model.eval()
    assert lattice.box == Box(2, 4, 2)  # fixed at the maximum box: nothing grew or shrank
    assert lattice.readout_bias.abs().sum() > 0  # trained: a bias copied wrong would show
    plain = plain_nets(spec, in_channels=1, classes=3)["plain_recurrent"].eval()
    images = trainer.data.normalise(trainer.data.test_sets[1][:16])
    with torch.no_grad():
        before = plain(images)
        copy_lattice_weights(lattice, plain)
        expected, actual = lattice(images).logits, plain(images)
    assert not torch.allclose(before, expected, atol=1e-3)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_copy_refuses_a_plain_net_of_another_box(tmp_path):
    spec = parse_spec(tiny_spec_text("every_connection", steps=6))
    trainer, _ = train_growsim(spec, tmp_path / "run")
    other = PlainRecurrentConvNet(1, 3, layers=2, channels=4, steps=3)
    with pytest.raises(ValueError, match="does not match"):
        copy_lattice_weights(trainer.model, other)
    fewer = PlainRecurrentConvNet(1, 3, layers=2, channels=4, steps=2, connections=("bottom_up",))
    with pytest.raises(ValueError, match="lacks"):
        copy_lattice_weights(trainer.model, fewer)


def test_feedforward_net_is_the_recurrent_net_with_one_step_and_no_recurrence():
    torch.manual_seed(0)
    shared = dict(in_channels=1, classes=3, layers=3, channels=4, readout_grid=2)
    feedforward = FeedforwardConvNet(**shared)
    one_step = PlainRecurrentConvNet(steps=1, connections=("bottom_up",), **shared)
    recurrent = PlainRecurrentConvNet(steps=3, **shared)
    images = torch.randn(5, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for net in (one_step, recurrent):
            net.load_state_dict(feedforward.state_dict(), strict=False)
        logits = feedforward(images)
        assert logits.shape == (5, 1, 3)
        torch.testing.assert_close(one_step(images), logits)
        # A recurrent net's first step has no earlier step to read: it is the feedforward
        # pass; later steps read lateral and top-down input and differ.
        stepped = recurrent(images)
        torch.testing.assert_close(stepped[:, :1], logits)
        assert not torch.allclose(stepped[:, 1:2], logits, atol=1e-4)


def test_a_seed_given_twice_is_refused(capsys):
    assert main(["--seed", "1", "--seed", "1", "--quick"]) == 2
    assert "--seed: each seed once (got 1 1)" in capsys.readouterr().err


def test_plain_loss_is_last_step_plus_supervision_times_mean_over_steps():
    logits = torch.tensor([[[4.0, 0.0], [0.0, 1.0], [0.0, 3.0]]])  # (batch, step, class)
    labels = torch.tensor([1])
    per_step = [F.cross_entropy(logits[:, t], labels) for t in range(3)]
    expected = per_step[2] + 0.5 * sum(per_step) / 3
    torch.testing.assert_close(plain_loss(logits, labels, 0.5), expected)
    torch.testing.assert_close(plain_loss(logits, labels, 0.0), per_step[2])
    torch.testing.assert_close(plain_loss(logits[:, :1], labels, 0.5), per_step[0])


def test_fixed_box_spec_switches_off_costs_growth_and_compaction():
    spec = parse_spec(tiny_spec_text("every_connection"))
    fixed = fixed_box_spec(spec)
    for axis in ("layers", "channels", "steps"):
        extent = getattr(fixed.lattice, axis)
        assert extent.initial == extent.max == getattr(spec.lattice, axis).max
    assert [getattr(fixed.costs, n).weight for n in ("breadth", "depth", "time")] == [0, 0, 0]
    assert not fixed.growth.enabled and not fixed.compaction.enabled
    assert fixed.training == spec.training and fixed.data == spec.data
    assert spec.costs.time.weight == 0.1 and spec.lattice.steps.initial == 1  # a copy
