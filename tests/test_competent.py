"""The competent protocol: precision, kept models, emergence measures, the competence rule,
the verdicts, the reference ensemble, and a tiny protocol run end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from growsim.analysis.competent_findings import MeanInterval, agrees_from, appears_at, verdict
from growsim.analysis.difficulty import (
    REFERENCE_ARCHITECTURES,
    ReferenceDifficulty,
    reference_model,
)
from growsim.analysis.emergence import (
    objective_allocation,
    partial_spearman,
    snapshot_model,
    stopped_moving,
)
from growsim.errors import SpecError
from growsim.files import RESOURCES_NAME, SUMMARY_NAME
from growsim.model.lattice import Box, LatticeNetwork, NetworkOutput
from growsim.spec import load_spec
from growsim.train.checkpoint_file import read_checkpoint


def test_bf16_runs_the_convolutions_in_bfloat16_and_keeps_halting_and_parameters_in_float32():
    torch.manual_seed(0)
    images = torch.randn(8, 1, 16, 16)
    full = LatticeNetwork(Box(2, 8, 3), 1, 4, generator=torch.Generator().manual_seed(1))
    half = LatticeNetwork(
        Box(2, 8, 3), 1, 4, generator=torch.Generator().manual_seed(1), precision="bf16"
    )
    half.load_state_dict(full.state_dict())
    with torch.no_grad():
        half.halting_weight.fill_(0.3)
        full.halting_weight.fill_(0.3)
    captured = []
    hook = torch.nn.functional.conv2d
    try:
        torch.nn.functional.conv2d = lambda x, *a, **k: (
            captured.append(hook(x, *a, **k).dtype) or hook(x, *a, **k)
        )
        out_half = half(images)
    finally:
        torch.nn.functional.conv2d = hook
    out_full = full(images)
    assert captured and set(captured) == {torch.bfloat16}
    assert out_half.logits.dtype == out_half.log_step_probs.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in half.parameters())
    # bf16 keeps 8 bits of mantissa: close to fp32, not equal to it
    assert torch.allclose(out_half.step_probs, out_full.step_probs, atol=0.05)
    assert not torch.equal(out_half.logits, out_full.logits)
    out_half.logits.sum().backward()
    assert half.bottom_up[0].grad.dtype == torch.float32


def test_an_unknown_precision_is_a_spec_error(tiny_spec):
    with pytest.raises(SpecError, match="training.precision"):
        load_spec(tiny_spec, overrides=["training.precision=fp16"])


def test_partial_spearman_removes_what_a_shared_cause_explains():
    rng = np.random.default_rng(0)
    cause = rng.normal(size=4000)
    x, y = cause + 0.5 * rng.normal(size=4000), cause + 0.5 * rng.normal(size=4000)
    from growsim.analysis.statistics import spearman

    assert spearman(x, y) > 0.6
    assert abs(partial_spearman(x, y, cause)) < 0.08
    # a direct link survives the control
    z = rng.normal(size=4000)
    assert partial_spearman(z + 0.3 * cause, z + 0.3 * rng.normal(size=4000), cause) > 0.6


def test_stopped_moving_compares_the_tail_change_with_the_seed_spread():
    iterations = [0, 200, 400, 600, 800, 1000]
    flat = np.array([[0.1, 0.5, 0.7, 0.80, 0.81, 0.81], [0.1, 0.4, 0.6, 0.75, 0.76, 0.76]])
    assert stopped_moving(flat, iterations, 1000).tolist() == [True, True]
    rising = flat.copy()
    rising[0, -1] = 0.95  # 0.14 over the tail; the seeds' spread is (0.95 - 0.76) / sqrt 2 = 0.13
    assert stopped_moving(rising, iterations, 1000).tolist() == [False, True]
    with pytest.raises(ValueError, match="two runs"):
        stopped_moving(flat[:1], iterations, 1000)


def test_verdicts_need_two_competent_seeds_and_an_interval_that_excludes_zero():
    assert verdict(MeanInterval(0.3, 0.1, 0.5, 3, 0.95), True) == "holds"
    assert verdict(MeanInterval(-0.3, -0.5, -0.1, 3, 0.95), True) == "does not hold"
    assert verdict(MeanInterval(0.3, -0.1, 0.7, 3, 0.95), True).startswith("not decided (")
    assert verdict(MeanInterval(0.3, 0.1, 0.5, 3, 0.95), False) == "not decided at this budget"
    assert verdict(MeanInterval(0.3, 0.3, 0.3, 1, 0.95), True) == "not decided at this budget"


class _Run:
    def __init__(self, values):
        self.emergence = {"iterations": [0, 100, 200, 300], "measures": {"difficulty_rho": values}}

    def curve(self, measure):
        return np.asarray(self.emergence["measures"][measure])


def test_a_finding_appears_where_its_interval_stays_above_zero():
    runs = [_Run([0.0, 0.2, 0.5, 0.5]), _Run([0.1, -0.3, 0.6, 0.55]), _Run([0.0, 0.3, 0.55, 0.6])]
    assert appears_at(runs, "difficulty_rho") == 200
    runs[2] = _Run([0.0, 0.3, 0.55, -0.6])  # falls back at the end: never settled
    assert appears_at(runs, "difficulty_rho") is None


class _FixedOutputs(torch.nn.Module):
    """A stand-in network: every image's per-step logits and halting given."""

    def __init__(self, logits, log_step_probs):
        super().__init__()
        self.logits, self.log_step_probs = logits, log_step_probs

    def forward(self, images):
        return NetworkOutput(self.logits[: len(images)], self.log_step_probs[: len(images)])


def test_the_objective_allocation_is_the_softmin_of_cross_entropy_plus_time_cost():
    # image 0: right from step 1; image 1: wrong until step 3
    sure, unsure = torch.tensor([8.0, 0.0]), torch.tensor([0.0, 8.0])
    logits = torch.stack([torch.stack([sure, sure, sure]), torch.stack([unsure, unsure, sure])])
    halting = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    model = _FixedOutputs(logits, halting)

    class Data:
        validation_sets = [torch.zeros(2, 1, 4, 4)]
        validation_labels = torch.tensor([0, 0])

        @staticmethod
        def normalise(images):
            return images

    wanted, learned = objective_allocation(model, Data, time_weight=0.1, entropy_weight=0.0)
    assert wanted[0].tolist() == [1.0, 3.0]  # argmin of CE_t + 0.1 t, steps counted from 1
    assert np.allclose(learned[0], [0.5 + 0.6 + 0.6, 0.1 + 0.2 + 2.4])
    soft, _ = objective_allocation(model, Data, time_weight=0.1, entropy_weight=0.5)
    assert 1.0 < soft[0][0] < 2.0 < soft[0][1] < 3.0


def test_every_reference_architecture_classifies_and_the_difficulty_file_round_trips(tmp_path):
    for architecture in REFERENCE_ARCHITECTURES:
        assert reference_model(architecture, 1, 28, 6)(torch.zeros(2, 1, 28, 28)).shape == (2, 6)
    probability = {"validation": np.full((5, 2, 3), 0.25), "test": np.full((5, 2, 4), 0.5)}
    probability["test"][0] = 1.0
    stored = ReferenceDifficulty(
        REFERENCE_ARCHITECTURES,
        probability,
        {"validation": np.zeros((5, 2)), "test": np.ones((5, 2))},
    )
    stored.save(tmp_path / "d.npz")
    loaded = ReferenceDifficulty.load(tmp_path / "d.npz")
    assert loaded.architectures == REFERENCE_ARCHITECTURES
    assert np.allclose(loaded.miss_probability("test"), 1 - (1.0 + 4 * 0.5) / 5)
    assert np.allclose(loaded.miss_probability("validation"), 0.75)


def test_kept_models_rebuild_the_network_of_each_checkpoint(tiny_spec, tmp_path):
    from growsim.data.datasets import load_dataset
    from growsim.runs.experiment import run_experiment
    from growsim.train.run_data import prepare_run_data

    spec = load_spec(tiny_spec, overrides=["record.keep_models=true", "training.iterations=200"])
    run_dir = tmp_path / "tiny"
    run_experiment(spec, run_dir, progress=False)
    kept = sorted(p.name for p in (run_dir / "models").iterdir())
    assert kept == ["iteration-0000000.pt", "iteration-0000100.pt", "iteration-0000200.pt"]
    data = prepare_run_data(spec, load_dataset(spec.data, spec.data.seed), torch.device("cpu"))
    final = read_checkpoint(run_dir / "checkpoint.pt", "cpu")
    model = snapshot_model(spec, data, run_dir / "models" / kept[-1])
    assert model.box == Box(**final["box"])
    for name, value in model.state_dict().items():
        assert torch.equal(value, final["model"][name]), name
    first = snapshot_model(spec, data, run_dir / "models" / kept[0])
    assert not torch.equal(first.readout_bias, model.readout_bias)


def test_the_protocol_spans_a_tenfold_time_weight_range_and_both_precisions():
    from growsim.reproduce.competent import ARMS, DIAGNOSTIC_ARMS, RESOURCE_ARMS, competent_arms

    arms = {a.name: a for a in competent_arms(arms=ARMS)}
    main = arms["fashion-mnist/competent-main"].sweep
    assert sorted({m.spec.training.precision for m in main.members}) == ["bf16", "fp32"]
    weights = sorted(
        {
            m.spec.costs.time.weight
            for m in arms["fashion-mnist/competent-time-weight"].sweep.members
        }
    )
    base = main.members[0].spec.costs.time.weight
    assert min(weights) < base < max(weights) and max(weights) / min(weights) == pytest.approx(10)
    ablation = arms["shapes/competent-ablation"].sweep.members
    assert not any(m.spec.lattice.halting_reads_confidence for m in ablation)
    centred = arms["fashion-mnist/competent-centred"].sweep.members
    assert all(m.spec.lattice.halting_centred for m in centred) and len(centred) == 3
    budgets = {
        arm: {
            m.spec.training.iterations for m in arms[f"fashion-mnist/competent-{arm}"].sweep.members
        }
        for arm in ("long", "longer")
    }
    assert budgets == {"long": {10000}, "longer": {20000}}
    # without --arms the diagnostic arms (the budget chain beyond the verdicts') do not run
    default = {a.name for a in competent_arms()}
    assert "fashion-mnist/competent-long" in default
    assert not any(name.endswith(f"competent-{arm}") for name in default for arm in DIAGNOSTIC_ARMS)
    digits = arms["digits/competent-main-bf16"].sweep.members[0].spec
    assert (digits.data.dataset, digits.data.image_size) == ("digits", 16)
    # digits' budget chain and Fashion-MNIST's main setting and its check run 5 seeds; the
    # other arms (fine-tuned ones too) keep 3
    seeds = {
        name: sorted({m.spec.training.seed for m in a.sweep.members}) for name, a in arms.items()
    }
    for name in ("digits/competent-main-bf16", "digits/competent-long", "digits/competent-longer",
                 "fashion-mnist/competent-main", "fashion-mnist/competent-long"):  # fmt: skip
        assert seeds[name] == [0, 1, 2, 3, 4], name
    assert (
        seeds["fashion-mnist/competent-longer"]
        == seeds["fashion-mnist/competent-ablation"]
        == [0, 1, 2]
    )
    assert (
        seeds["digits/competent-ablation"]
        == seeds["digits/competent-time-weight-tuned"]
        == [0, 1, 2]
    )
    for arm in arms.values():  # models kept to re-measure, except findings 1 and 2's arms
        kept = {m.spec.record.keep_models for m in arm.sweep.members}
        assert kept == ({False} if arm.arm in RESOURCE_ARMS else {True}), arm.name


def test_a_tiny_protocol_runs_on_a_dask_cluster_measures_and_writes_its_page(
    tiny_spec, tmp_path, monkeypatch
):
    """``growsim reproduce --competent --scheduler``: the protocol's members train on a
    LocalCluster's worker processes, then are measured and make the page."""
    distributed = pytest.importorskip("distributed")
    from growsim.cli import main
    from growsim.reproduce import competent
    from growsim.reproduce.competent import collected, competent_arms, run_arms

    table = {"tiny": (Path(tiny_spec), {"training.iterations": 100, "record.every": 50}, ("main",))}
    monkeypatch.setattr(competent, "DATASETS", table)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        args = ["reproduce", "--competent", "--out", str(tmp_path / "out"), "--no-progress",
                "--scheduler", cluster.scheduler_address]  # fmt: skip
        assert main(args) == 0
    results = tmp_path / "out" / "results"
    runs = sorted(p.name for p in (results / "tiny" / "main").iterdir())
    assert len(runs) == 6 and (results / "tiny" / "difficulty.npz").exists()
    text = (tmp_path / "out" / "results.md").read_text()
    assert (
        "## tiny" in text
        and "main, time weight 0.01, bf16, 100 it." in text
        and "main, time weight 0.01, fp32, 100 it." in text
    )
    glance = text.split("## At a glance")[1].split("\n## ")[0]  # the bf16 main setting only
    assert "| tiny | main, time weight 0.01, bf16, 100 it. | 3 |" in glance and "fp32" not in glance
    assert (tmp_path / "out" / "results-figures" / "emergence-tiny.png").exists()
    assert "**Precision** (main arm, bf16 against fp32" in text
    arms = competent_arms(table=table)
    # Continued elsewhere (the runs gone, the per-run files kept): nothing trains again.
    said = []
    assert run_arms(arms, tmp_path / "elsewhere", workers=1, say=said.append, results=results) == []
    assert said == ["tiny/competent-main: all 6 runs already measured"]
    assert not (tmp_path / "elsewhere").exists()
    # Files of the same member names but another spec (e.g. the quick protocol's) are not it.
    longer = {
        "tiny": (Path(tiny_spec), {"training.iterations": 120, "record.every": 60}, ("main",))
    }
    other = competent_arms(table=longer)[0]
    assert [m.name for m in other.sweep.members] == [m.name for m in arms[0].sweep.members]
    assert not any(collected(results, other, m) for m in other.sweep.members)
    assert all(collected(results, arms[0], m) for m in arms[0].sweep.members)


@pytest.mark.slow  # nine tiny runs, trained and measured end to end
def test_a_fine_tuned_arm_starts_from_its_seeds_main_run_and_meets_its_twin_on_the_page(
    tiny_spec, tmp_path, monkeypatch
):
    """``ablation-tuned``: each seed's main network, halting alone trained anew without the
    confidence; the page sets it against the ablation trained from scratch."""
    from functools import partial

    from growsim.analysis.difficulty import reference_difficulty
    from growsim.files import CHECKPOINT_NAME
    from growsim.reproduce import competent
    from growsim.reproduce.competent import competent_arms, measure, run_arms
    from growsim.reproduce.fine_tuned import TUNE_SHARE

    # two linear reference models (the ensemble's five are the Dask test's to train)
    quick = partial(reference_difficulty, architectures=("logistic", "perceptron"))
    monkeypatch.setattr(competent, "reference_difficulty", quick)
    from growsim.reproduce.competent_page import write_competent_page
    from growsim.train.checkpoint_file import read_checkpoint

    settings = {"training.iterations": 80, "record.every": 40}
    table = {"tiny": (Path(tiny_spec), settings, ("main-bf16", "ablation", "ablation-tuned"))}
    out, results = tmp_path / "out", tmp_path / "results"
    arms = competent_arms(table=table, out=out)
    tuned = arms[-1].sweep.members
    assert {m.spec.training.iterations for m in tuned} == {round(80 * TUNE_SHARE)}
    assert [m.spec.training.seed for m in tuned] == [0, 1, 2]
    assert run_arms(arms, out, workers=1, say=lambda _: None) == []
    for member in tuned:  # the backbone's weights, halting without the confidence
        seed = member.spec.training.seed
        main = out / "tiny" / "competent-main-bf16" / f"training.precision=bf16_seed={seed}"
        start = read_checkpoint(main / CHECKPOINT_NAME, "cpu")["model"]
        end = read_checkpoint(
            out / "tiny" / "competent-ablation-tuned" / member.name / CHECKPOINT_NAME, "cpu"
        )["model"]
        assert torch.equal(end["bottom_up.0"], start["bottom_up.0"])
        assert "halting_confidence" in start and "halting_confidence" not in end
    measure(arms, out, results, say=lambda _: None)
    text = write_competent_page(results, tmp_path / "page.md").read_text()
    assert "**Fine-tuned against from scratch** (ablation-tuned, time weight" in text
    assert "| difficulty_partial_rho |" in text.split("Fine-tuned against from scratch")[1]
    # the first table: the main setting's verdicts, not the ablation's or the fine-tuned arm's
    glance = text.split("## At a glance")[1].split("\n## ")[0]
    assert (
        "| 3: more steps on occluded inputs (steps added at the top level) | tiny | main-bf16,"
        in glance
    )
    assert "ablation" not in glance.split("|---|")[-1]


def test_fine_tuned_members_need_their_main_runs_networks(tiny_spec, tmp_path):
    """A fine-tuned member whose main run's network is not in OUT: that main run trains
    again even when its per-run files were measured elsewhere, or, not asked for, a clear
    error."""
    from growsim.errors import SpecError
    from growsim.reproduce.competent import _needed_backbones, competent_arms, run_arms

    table = {
        "tiny": (Path(tiny_spec), {"training.iterations": 80}, ("main-bf16", "ablation-tuned"))
    }
    arms = competent_arms(table=table, out=tmp_path / "out")
    assert _needed_backbones(arms, None) == {
        ("tiny/competent-main-bf16", f"training.precision=bf16_seed={seed}") for seed in range(3)
    }
    with pytest.raises(SpecError, match=r"run that arm too \(--arms main-bf16,ablation-tuned\)"):
        run_arms(arms[1:], tmp_path / "out", workers=1, say=lambda _: None)


class _Measured:
    """A stand-in run: each measure's curve over four checkpoints."""

    def __init__(self, seed=0, **curves):
        self.emergence = {"iterations": [0, 100, 200, 300]}
        self.seed = seed
        self.curves = curves

    def curve(self, measure):
        return np.asarray(self.curves[measure], dtype="float64")


def _measured(accuracy, agreement=(0.3, 0.2, 0.1, 0.1), steps=0.3, rho=0.8, seed=0, partial=0.2):
    return _Measured(
        seed, validation_accuracy=[0.1, 0.5, 0.8, accuracy], steps_added=[0, 0.1, 0.2, steps],
        difficulty_rho=[0, 0.5, 0.7, rho], difficulty_partial_rho=[0, 0.1, 0.2, partial],
        agreement=list(agreement),
    )  # fmt: skip


def _seeded(runs):
    """The runs numbered as seeds 0, 1, ..."""
    for seed, run in enumerate(runs):
        run.seed = seed
    return runs


def test_the_budget_rule_checks_each_budget_against_its_double():
    from growsim.analysis.competent_findings import budget_chain

    chain = {
        5000: _seeded([_measured(0.855), _measured(0.860), _measured(0.862)]),
        10000: _seeded([_measured(0.867), _measured(0.873)]),
        20000: _seeded([_measured(0.869), _measured(0.874)]),
        40000: [_measured(0.9)],  # one seed: no check of 20000
    }
    checks = budget_chain(chain)
    assert sorted(checks) == [5000, 10000]
    # accuracy moved by about 0.012 (seed sd about 0.004): within the 0.02 margin (paired over
    # seeds 0 and 1), outside the spread
    assert checks[5000].rows[0].test == "paired, n = 2"
    assert checks[5000].stable() and not checks[5000].within_seed_spread()
    assert checks[10000].stable() and checks[10000].within_seed_spread()  # by 0.0015


def test_the_budget_rule_is_an_equivalence_test_not_a_point_comparison():
    from growsim.analysis.competent_findings import STOPPED_MARGINS, budget_check

    # a mean change inside the margin whose interval is not: too few, too spread seeds
    noisy = budget_check(
        [_measured(0.80, seed=0), _measured(0.86, seed=1)],
        [_measured(0.83, seed=2), _measured(0.84, seed=3)],  # no seed in common: Welch
    )
    accuracy = noisy.rows[0]
    assert accuracy.measure == "validation_accuracy"
    assert abs(accuracy.change.mean) < STOPPED_MARGINS["validation_accuracy"]
    assert not accuracy.stopped() and not noisy.stable()
    # steps added that still grow by 0.3 with the budget: accuracy alone does not decide
    growing = budget_check(
        _seeded([_measured(0.86, steps=0.30), _measured(0.861, steps=0.31)]),
        _seeded([_measured(0.862, steps=0.60), _measured(0.862, steps=0.62)]),
    )
    assert [r.stopped() for r in growing.rows] == [True, False, True, True]
    assert not growing.stable() and not growing.stable(("validation_accuracy", "steps_added"))
    assert growing.stable(("validation_accuracy", "difficulty_rho"))  # finding 4's measures
    # paired over shared seeds: a shift every seed makes is seen through a large seed spread
    shifted = budget_check(
        _seeded([_measured(0.80), _measured(0.86), _measured(0.90)]),
        _seeded([_measured(0.85), _measured(0.91), _measured(0.95)]),
    )
    assert shifted.rows[0].change.low == pytest.approx(0.05) and not shifted.rows[0].stopped()
    # seeds the short budget did not run (here far off) enter neither the means shown beside
    # the paired change nor the stricter rule: those speak of the same seeds as the change
    more = _seeded(
        [_measured(0.85), _measured(0.91), _measured(0.95), _measured(0.5), _measured(0.5)]
    )
    unequal = budget_check(_seeded([_measured(0.80), _measured(0.86), _measured(0.90)]), more)
    row = unequal.rows[0]
    assert row.test == "paired, n = 3" and row.at_double == pytest.approx((0.85 + 0.91 + 0.95) / 3)
    assert row.at_double - row.at_budget == pytest.approx(row.change.mean)


def test_a_fine_tuned_arm_is_checked_against_its_from_scratch_twin_only():
    from growsim.analysis.competent_findings import tuned_checks

    def key(arm, iterations, weight=0.1, reads=False):
        return ("d", arm, "bf16", weight, reads, iterations, False)

    scratch = _seeded([_measured(0.86, steps=0.30), _measured(0.87, steps=0.32), _measured(0.865)])
    same = _seeded([_measured(0.862, steps=0.31), _measured(0.868, steps=0.30), _measured(0.866)])
    weaker = _seeded([_measured(0.86, steps=0.05), _measured(0.87, steps=0.02), _measured(0.865)])
    groups = {
        key("ablation", 5000): scratch,
        key("ablation-tuned", 1250): same,
        key("time-weight", 5000, weight=0.3): scratch,
        key("time-weight-tuned", 1250, weight=0.3): weaker,
        key("time-weight-tuned", 1250, weight=0.03): same,  # no from-scratch twin at 0.03
        key("main", 5000, reads=True): scratch,
    }
    checks = tuned_checks(groups)
    assert set(checks) == {key("ablation-tuned", 1250), key("time-weight-tuned", 1250, weight=0.3)}
    twin, check = checks[key("ablation-tuned", 1250)]
    assert twin == key("ablation", 5000) and check.stable()
    assert check.rows[0].test == "paired, n = 3"
    _, weak = checks[key("time-weight-tuned", 1250, weight=0.3)]
    assert not weak.stable(("validation_accuracy", "steps_added"))
    assert weak.stable(("validation_accuracy",))
    # two seeds in common are too few to call them equivalent
    groups[key("ablation-tuned", 1250)] = same[:2]
    assert tuned_checks(groups)[key("ablation-tuned", 1250)] == (key("ablation", 5000), None)


def test_a_fine_tuned_run_from_another_network_than_the_pages_main_run_is_not_tested():
    from growsim.analysis.competent_findings import backbone_record
    from growsim.reproduce.budget_table import tuned_lines

    def with_ids(runs, key, ids):
        for run, run_id in zip(runs, ids):
            run.summary = {key: run_id}
        return runs

    main = with_ids(_seeded([_measured(0.86) for _ in range(3)]), "run_id", ["m0", "m1", "m2"])
    tuned = with_ids(
        _seeded([_measured(0.86) for _ in range(3)]), "backbone_run_id", ["m0", "m1", "m2"]
    )
    assert backbone_record(tuned, main) == (3, 3)
    old = _seeded([_measured(0.86) for _ in range(3)])
    for run in old:
        run.summary = {}  # made before growsim recorded backbones
    assert backbone_record(old, main) == (0, 0)
    assert "no run recorded its own" in tuned_lines("t", "s", _equal_check(), (0, 0))[1]
    # seed 1 started from seed 2's network (or a retrained main run): not tested
    tuned[1].summary["backbone_run_id"] = "m2"
    assert backbone_record(tuned, main) == (3, 2)
    line = tuned_lines("t", "s", _equal_check(), (3, 2))[1]
    assert "**not tested**: 1 of its runs started from a network that is not the main run" in line
    assert (
        "backbones: 3 of its runs recorded theirs"
        in tuned_lines("t", "s", _equal_check(), (3, 3))[1]
    )


def _equal_check():
    from growsim.analysis.competent_findings import budget_check

    return budget_check(_seeded([_measured(0.86) for _ in range(3)]),
                        _seeded([_measured(0.86) for _ in range(3)]))  # fmt: skip


def test_bf16_agrees_with_fp32_only_when_every_measure_is_equivalent_within_its_margin():
    from growsim.analysis.competent_findings import precision_comparison

    def timed(runs, seconds):
        for run in runs:
            run.summary = {"time_spent": {"training": seconds}}
        return runs

    fp32 = timed(_seeded([_measured(0.852), _measured(0.850), _measured(0.855)]), 270.0)
    # better by 0.007, more than the seeds' sd (about 0.003) but well within the 0.02 margin
    bf16 = timed(_seeded([_measured(0.859), _measured(0.857), _measured(0.862)]), 100.0)
    same = precision_comparison(bf16, fp32)
    assert same.agrees() and same.seconds_ratio == pytest.approx(2.7)
    accuracy = same.check.rows[0]
    assert accuracy.change.mean == pytest.approx(0.007) and accuracy.test == "paired, n = 3"
    # halting that adds 0.2 fewer steps in bf16: not the same results, whatever the accuracy
    fewer = timed(_seeded([_measured(0.852, steps=0.1), _measured(0.85, steps=0.12),
                           _measured(0.855, steps=0.09)]), 100.0)  # fmt: skip
    assert not precision_comparison(fewer, fp32).agrees()
    # a bf16 seed fp32 did not run (here a slow one) enters neither the test nor the time ratio
    extra = timed(
        _seeded([_measured(0.859), _measured(0.857), _measured(0.862), _measured(0.5)]), 100.0
    )
    extra[3].summary = {"time_spent": {"training": 10000.0}}
    more = precision_comparison(extra, fp32)
    assert more.agrees() and more.seconds_ratio == pytest.approx(2.7)


def test_the_centring_change_is_kept_only_if_it_agrees_earlier_and_keeps_accuracy():
    from growsim.analysis.competent_findings import centring_test

    never = (0.3, 0.2, 0.1, 0.1)
    early = (0.3, 0.04, 0.02, 0.01)
    plain = [_measured(0.860, never), _measured(0.864, never)]
    assert centring_test(plain, [_measured(0.861, early), _measured(0.865, early)]).keep()
    worse = centring_test(plain, [_measured(0.840, early), _measured(0.845, early)])
    assert worse.earlier() and not worse.accuracy_holds() and not worse.keep()
    same = centring_test(plain, [_measured(0.861, never), _measured(0.865, never)])
    assert same.agrees_from == (None, None) and not same.keep()
    # a main setting with more seeds than the centred arm: compared over the seeds both ran
    # (here its extra two are far less accurate, which would hide the centred arm's loss)
    main = _seeded([_measured(a, early) for a in (0.870, 0.872, 0.871, 0.80, 0.80)])
    lower = centring_test(main, _seeded([_measured(a, early) for a in (0.850, 0.852, 0.851)]))
    assert lower.seeds == (3, 3) and lower.accuracy[0] == pytest.approx(0.871)
    assert not lower.accuracy_holds()


def test_agreement_needs_every_checkpoint_to_the_end_and_does_not_let_seeds_cancel():
    ok = (0.3, 0.02, 0.01, 0.01)
    assert agrees_from([_measured(0.86, ok), _measured(0.86, ok)]) == 100
    late_nan = (0.3, 0.02, 0.01, float("nan"))
    assert agrees_from([_measured(0.86, ok), _measured(0.86, late_nan)]) is None
    opposite = [_measured(0.86, (0.3, 0.5, 0.5, 0.5)), _measured(0.86, (0.3, -0.5, -0.5, -0.5))]
    assert agrees_from(opposite) is None  # +0.5 and -0.5 steps are not agreement


def test_a_resource_arm_keeps_resources_not_models_and_makes_findings_1_and_2(
    tiny_spec, tmp_path, monkeypatch
):
    from growsim.analysis.resource_findings import load_resource_runs
    from growsim.reproduce import competent
    from growsim.reproduce.competent import competent_arms, measure, run_arms
    from growsim.reproduce.competent_page import write_competent_page

    monkeypatch.setattr(competent, "COMPLEXITY_GRID", {"data.classes": [2, 3]})
    # the resource arms train RESOURCE_BUDGET_SHARE of the dataset's budget: 60 iterations
    settings = {"training.iterations": round(60 / competent.RESOURCE_BUDGET_SHARE),
                "record.every": 30, "data.noise": 0.1}  # fmt: skip
    table = {"tiny": (Path(tiny_spec), settings, ("complexity",))}
    arms = competent_arms(table=table)
    assert all(not m.spec.record.keep_models for m in arms[0].sweep.members)
    assert arms[0].sweep.members[0].spec.lattice.channels.max == 48  # the free box
    assert {m.spec.training.iterations for m in arms[0].sweep.members} == {60}
    assert run_arms(arms, tmp_path / "out", workers=1, say=lambda _: None) == []
    measure(arms, tmp_path / "out", tmp_path / "results", say=lambda _: None)
    runs = load_resource_runs(tmp_path / "results")
    assert sorted((r.classes, r.seed) for r in runs) == [(c, s) for c in (2, 3) for s in (0, 1, 2)]
    assert all(r.resources.shape == (3,) and r.resources[1] >= 1 for r in runs)
    # a box at its maximum binds only where the active region still presses that edge
    run_dir = sorted((tmp_path / "results").glob(f"tiny/*/*/{RESOURCES_NAME}"))[0].parent
    over = json.loads((run_dir / RESOURCES_NAME).read_text())
    assert len(over["pressing_edge"]) == 3 and all(
        isinstance(v, bool) for v in over["pressing_edge"]
    )
    summary = json.loads((run_dir / SUMMARY_NAME).read_text())
    lattice = arms[0].sweep.members[0].spec.lattice
    maximum = {
        "layers": lattice.layers.max,
        "channels": lattice.channels.max,
        "steps": lattice.steps.max,
    }
    (run_dir / SUMMARY_NAME).write_text(json.dumps({**summary, "box": maximum}))
    for pressing in ([True, False, True], [False, False, False]):
        (run_dir / RESOURCES_NAME).write_text(json.dumps({**over, "pressing_edge": pressing}))
        (first,) = [r for r in load_resource_runs(tmp_path / "results") if r.at_maximum.any()] or [
            None
        ]
        assert (first is not None and first.at_maximum.tolist() == pressing) or not any(pressing)
    assert not (tmp_path / "results" / "tiny" / "difficulty.npz").exists()  # no models measured
    text = write_competent_page(tmp_path / "results", tmp_path / "page.md").read_text()
    assert "**Finding 2: networks grow with task complexity**" in text
    assert (tmp_path / "page-figures" / "resources-tiny.png").exists()
    assert "![resources over training, tiny](page-figures/resources-tiny.png)" in text
    assert "not decided at this budget" in text  # no main chain: the budget rule is not shown
    # the first table carries finding 2's verdict per resource (no tradeoff arm: no finding 1)
    glance = text.split("## At a glance")[1].split("\n## ")[0]
    assert "| 1: the resources trade off" not in glance
    assert glance.count("| 2: growth with the number of classes, ") == 3


def _resource_run(weights, seed, accuracy, resources, classes=10, noise=0.0, arm="tradeoff",
                  iterations=100):  # fmt: skip
    from growsim.analysis.resource_findings import ResourceRun

    return ResourceRun("d", arm, seed, weights, classes, noise, np.asarray(resources, float),
                       np.zeros(3, bool), np.zeros(3, bool), accuracy, accuracy, iterations, {})  # fmt: skip


def test_the_resource_arms_budget_rule_compares_the_base_weights_at_twice_the_budget():
    from growsim.analysis.resource_findings import resource_budget_checks

    base, dear = (1, 1, 1), (4, 1, 1)
    runs = [
        *[_resource_run(base, s, 0.97 + 0.002 * s, [20 + s, 3, 2.0 + 0.01 * s]) for s in range(3)],
        *[_resource_run(dear, s, 0.96, [12 + s, 3, 2.0]) for s in range(3)],
        *[_resource_run(base, s, 0.972 + 0.002 * s, [20.5 + s, 3, 2.02 + 0.01 * s],
                        arm="tradeoff-long", iterations=200) for s in range(3)],
    ]  # fmt: skip
    checks = resource_budget_checks(runs)
    assert list(checks) == [100] and checks[100].stable()
    assert [r.measure for r in checks[100].rows] == [
        "validation_accuracy",
        "width",
        "depth",
        "steps",
    ]
    # width still growing by 8 channels when the budget doubles: not stopped
    grown = [r if r.arm == "tradeoff" else _resource_run(base, r.seed, r.validation_accuracy,
             r.resources + [8, 0, 0], arm="tradeoff-long", iterations=200) for r in runs]  # fmt: skip
    assert not resource_budget_checks(grown)[100].stable()
    assert resource_budget_checks(runs[:6]) == {}  # no run at twice the budget: no check
    # the chain goes on below the budget: half the budget checked against the budget
    half = [_resource_run(base, s, 0.95, [30 + 3 * s, 2, 3.0 - 0.4 * s], arm="tradeoff-half",
                          iterations=50) for s in range(3)]  # fmt: skip
    chained = resource_budget_checks(runs + half)
    assert list(chained) == [50, 100] and chained[100] == checks[100]
    assert not chained[50].stable()
    # a pressed setting at the budget does not enter its base's chain
    assert resource_budget_checks(runs[3:]) == {}


def test_resource_arms_press_their_own_base_and_train_a_share_of_the_budget():
    from growsim.reproduce.competent import (
        ARMS,
        PRESSURE_FACTOR,
        RESOURCE_BASE,
        RESOURCE_BUDGET_SHARE,
        competent_arms,
    )

    arms = {a.arm: a for a in competent_arms(datasets=("digits",), arms=ARMS)}
    budget = arms["main-bf16"].sweep.members[0].spec.training.iterations
    tradeoff = arms["tradeoff"].sweep.members
    assert {m.spec.training.iterations for m in tradeoff} == {budget * RESOURCE_BUDGET_SHARE}
    depths = sorted({m.spec.costs.depth.weight for m in tradeoff})
    assert depths == [
        RESOURCE_BASE["costs.depth.weight"],
        RESOURCE_BASE["costs.depth.weight"] * PRESSURE_FACTOR,
    ]
    assert {m.spec.training.iterations for m in arms["tradeoff-long"].sweep.members} == {
        2 * budget * RESOURCE_BUDGET_SHARE
    }
    assert [m.spec.training.iterations for m in arms["quarter"].sweep.members][0] == budget // 4


def test_a_run_is_collected_whatever_its_arm_was_named_but_not_if_it_trained_otherwise(tmp_path):
    import dataclasses

    from growsim.files import SPEC_NAME
    from growsim.reproduce.competent import collected, competent_arms
    from growsim.spec import spec_to_yaml

    arm = competent_arms(datasets=("digits",), arms=("main-bf16",))[0]
    member = arm.sweep.members[0]
    stored = tmp_path / "digits" / "main-bf16" / member.name
    stored.mkdir(parents=True)
    renamed = dataclasses.replace(member.spec, name="competent-longer")
    (stored / SPEC_NAME).write_text(spec_to_yaml(renamed))
    assert collected(tmp_path, arm, member)
    other = dataclasses.replace(
        renamed, training=dataclasses.replace(renamed.training, iterations=1500)
    )
    (stored / SPEC_NAME).write_text(spec_to_yaml(other))
    assert not collected(tmp_path, arm, member)


def test_two_settings_trade_when_accuracy_is_equivalent_and_resources_move_apart():
    from growsim.analysis.resource_findings import equivalent, trades

    a, b, c = (1, 1, 1), (1, 1, 4), (4, 1, 1)
    runs = [
        *[_resource_run(a, s, 0.970 + 0.002 * s, [20 + s * 0.1, 3, 2.0]) for s in range(3)],
        # fewer steps, more width, same accuracy: a trade
        *[_resource_run(b, s, 0.971 + 0.002 * s, [26 + s * 0.1, 3, 1.2 + s * 0.01]) for s in range(3)],
        # less width but 10 points worse: not equal accuracy
        *[_resource_run(c, s, 0.870 + 0.002 * s, [12 + s * 0.1, 3, 2.6]) for s in range(3)],
    ]  # fmt: skip
    found, tested = trades(runs)
    assert tested == 3 and [(t.a, t.b) for t in found] == [(a, b)]
    assert equivalent([0.97, 0.972, 0.974], [0.971, 0.973, 0.975])
    assert not equivalent([0.97, 0.90, 0.99], [0.971, 0.973, 0.975])  # too noisy to show it


def test_complexity_slopes_are_per_seed_and_leave_out_runs_that_failed_to_learn():
    from growsim.analysis.resource_findings import complexity_effects

    runs = [
        _resource_run((1, 1, 1), s, 0.9, [8 * (c / 2) ** 0.5 + s, 2, 1.5], classes=c, noise=n)
        for s in range(3) for c in (2, 4, 8) for n in (0.0, 0.3)
    ]  # fmt: skip
    runs.append(_resource_run((1, 1, 1), 0, 0.1, [1, 1, 1], classes=8, noise=0.6))  # failed
    width, depth, steps = complexity_effects(runs)
    slope = width.slope_by_noise[0.0]
    assert slope.n == 3 and slope.mean == pytest.approx((16 - 8) / 2)  # least squares, per doubling
    assert depth.slope_by_noise[0.3].mean == pytest.approx(0.0)
    assert 0.6 not in width.slope_by_noise  # the failed run's noise level is not there


def test_the_surface_is_scored_out_of_sample_and_gives_rates_only_where_spanned():
    from growsim.analysis.resource_findings import surface_score

    rng = np.random.default_rng(0)
    runs = []
    for seed in range(3):
        for k in range(6):
            width, steps = 10 + 2 * k + rng.normal(), 1.5 + 0.1 * (3, 0, 4, 1, 5, 2)[k]
            accuracy = 0.5 + 0.02 * width + 0.1 * steps + rng.normal(0, 0.002)
            runs.append(_resource_run((k, 1, 1), seed, accuracy, [width, 3, steps]))
    score = surface_score(runs)
    assert score.out_of_sample_r2 > 0.9 and score.ranges[1] == 0
    assert score.substitution[(2, 0)] == pytest.approx(-5, rel=0.1)  # a step is worth 5 channels
    assert np.isnan(
        score.substitution[(0, 2)]
    )  # 0.2 steps a channel x 12 channels > the steps' range
    assert np.isnan(score.substitution[(1, 0)])  # depth never varied
    noise = [_resource_run((0, 1, 1), s, rng.uniform(0.9, 1.0), [rng.uniform(10, 20), 3, 2]) for s in range(3) for _ in range(6)]  # fmt: skip
    assert all(np.isnan(v) for v in surface_score(noise).substitution.values())


def test_the_protocol_lines_count_a_reused_run_once_and_judge_the_reference_gap(tmp_path):
    from growsim.reproduce.protocol_lines import (
        cost_lines,
        expected_runs,
        pending_lines,
        reference_lines,
    )

    protocol = {("d", "tradeoff"): ["same", "big"], ("d", "complexity"): ["same", "other"],
                ("d", "quarter"): ["q0", "q1"]}  # fmt: skip

    def ran(arm, run_id, hours, cpu_hours=None):
        run_dir = tmp_path / "d" / arm / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        summary = {"run_id": run_id, "time_spent": {"training": 3600.0 * hours, "checkpoints": 0.0}}
        if cpu_hours is not None:
            summary["cpu_seconds"] = 3600.0 * cpu_hours
        (run_dir / SUMMARY_NAME).write_text(json.dumps(summary))

    for arm, run_id in (("tradeoff", "same"), ("complexity", "same"), ("complexity", "other")):
        ran(arm, run_id, 1.0)
    (line,) = cost_lines(tmp_path, protocol)
    assert "the 2 runs on this page took 2.0 core-hours" in line
    # tradeoff's "big" is missing: a lower bound, never "within"
    assert "3 of its 4 runs are here, 2.0 core-hours so far" in line and "within" not in line
    assert "`tradeoff` 1 of 2 runs" in pending_lines("d", tmp_path, protocol)[1]
    assert "`quarter` 2 of 2 runs (diagnostic" in pending_lines("d", tmp_path, protocol)[1]
    # a diagnostic arm's run is on the page but not in the default protocol's cost
    ran("quarter", "q0", 1.0)
    ran("quarter", "q1", 9.0)
    (line,) = cost_lines(tmp_path, protocol)
    assert "the 4 runs on this page took 12.0 core-hours" in line
    assert "3 of its 4 runs are here, 2.0 core-hours" in line
    ran("tradeoff", "big", 0.5)
    assert "2.5 core-hours: about 1.2 hours on 2 cores" in cost_lines(tmp_path, protocol)[0]
    assert "within the 3-hour bound" in cost_lines(tmp_path, protocol)[0]
    assert (
        pending_lines("d", tmp_path, protocol) == []
        or "`tradeoff`" not in pending_lines("d", tmp_path, protocol)[1]
    )
    ran("tradeoff", "big", 9.0)
    assert "11.0 core-hours: about 5.5 hours on 2 cores" in cost_lines(tmp_path, protocol)[0]
    assert "**over the 3-hour bound**" in cost_lines(tmp_path, protocol)[0]
    # a run that recorded its CPU seconds counts them, not its (crowded) wall seconds
    ran("tradeoff", "big", 9.0, cpu_hours=3.0)
    assert "5.0 core-hours: about 2.5 hours on 2 cores" in cost_lines(tmp_path, protocol)[0]
    assert "for the 1 that recorded them" in cost_lines(tmp_path, protocol)[0]
    # the real protocol: every default and diagnostic arm, the fine-tuned ones with 3 seeds
    real = expected_runs()
    assert len(real[("digits", "ablation-tuned")]) == 3 and ("fashion-mnist", "longer") in real
    measured = {
        "over_seeds": [{"gap_points": [[1.8, 0.5, 3.1]], "seeds": [0, 1, 2]}],
        "settings": {"specs": ["specs/x.yaml"], "overrides": ["training.threads=1"]},
    }
    (tmp_path / "my_data.json").write_text(json.dumps(measured))
    assert "+1.8 [+0.5, +3.1] points" in reference_lines("my-data", tmp_path)[1]
    assert "the mean outside 1.5 points" in reference_lines("my-data", tmp_path)[1]
    assert "not measured" in reference_lines("absent", tmp_path)[1]
