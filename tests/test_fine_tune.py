"""Fine-tuning halting from another run's network (training.init_from, training.trainable):
the run starts from the backbone's final network with new time selection, trains what it
is told to, resumes bit for bit, and refuses a backbone or a spec that does not fit."""

import json
import shutil

import pytest
import torch

import growsim.train.trainer
from growsim.analysis.emergence import snapshot_model
from growsim.data.datasets import load_dataset
from growsim.errors import SpecError
from growsim.model.halting import uniform_halting_bias
from growsim.model.lattice import TIME_SELECTION_STATE, Box, LatticeNetwork
from growsim.runs.experiment import run_experiment
from growsim.spec import load_spec
from growsim.train.checkpoint_file import read_checkpoint
from growsim.train.run_data import prepare_run_data
from tests.test_reliability import assert_same_run, model_state

SHORT = ["training.iterations=30", "record.every=15", "record.write_seconds=0"]
TIME_ONLY = ["training.trainable=time", "growth.enabled=false", "compaction.enabled=false"]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    """(spec file, run directory) of a finished tiny run whose halting is centred and
    reads the readout's confidence, so it has every kind of time-selection state."""
    from tests.conftest import TINY_SPEC

    root = tmp_path_factory.mktemp("backbone")
    spec_path = root / "tiny.yaml"
    spec_path.write_text(TINY_SPEC)
    overrides = ["name=backbone", "lattice.halting_centred=true", "training.iterations=40",
                 "record.every=20", "record.write_seconds=0"]  # fmt: skip
    run_experiment(load_spec(spec_path, overrides), root / "backbone", progress=False)
    return spec_path, root / "backbone"


def fine_tune_spec(backbone, *overrides, init_from=None):
    """The tiny spec, fine-tuned from ``init_from`` (default: the backbone's directory)."""
    spec_path, run_dir = backbone
    source = f"training.init_from={init_from or run_dir}"
    return load_spec(spec_path, ["name=fine", source, *SHORT, *overrides])


def box(run_dir):
    """The box of a run's final network."""
    return Box(**read_checkpoint(run_dir / "checkpoint.pt", "cpu")["box"])


def weights(state):
    """The entries of a state dict that are not time selection's."""
    return {name: value for name, value in state.items() if name not in TIME_SELECTION_STATE}


def test_training_time_alone_moves_halting_and_leaves_every_other_tensor_as_the_backbone(
    backbone, tmp_path
):
    spec = fine_tune_spec(backbone, *TIME_ONLY, "lattice.halting_reads_confidence=false")
    run_experiment(spec, tmp_path / "fine", progress=False)
    start, tuned = model_state(backbone[1]), model_state(tmp_path / "fine")
    assert weights(tuned).keys() == weights(start).keys()
    for name, value in weights(tuned).items():
        assert torch.equal(value, start[name]), name
    assert "halting_confidence" not in tuned and "halting_feature_mean" not in tuned
    steps = tuned["halting_bias"].shape[0]
    assert not torch.equal(tuned["halting_bias"], uniform_halting_bias(steps))
    assert tuned["halting_weight"].abs().sum() > 0 and not torch.equal(
        tuned["halting_gain"], torch.ones(steps)
    )
    assert box(tmp_path / "fine") == box(backbone[1])
    # the summary names the run it started from
    summary = json.loads((tmp_path / "fine" / "summary.json").read_text())
    started_from = json.loads((backbone[1] / "summary.json").read_text())["run_id"]
    assert started_from and summary["backbone_run_id"] == started_from != summary["run_id"]


def test_training_all_starts_from_the_backbone_with_new_halting_then_trains_everything(
    backbone, tmp_path
):
    """The kept model of iteration 0 is the backbone's network with the time selection of
    a new one (its centring means too); emergence rebuilds it like any run's."""
    spec = fine_tune_spec(backbone, "record.keep_models=true", "lattice.halting_centred=true")
    run_experiment(spec, tmp_path / "fine", progress=False)
    data = prepare_run_data(spec, load_dataset(spec.data, spec.data.seed), torch.device("cpu"))
    models = sorted((tmp_path / "fine" / "models").iterdir())
    first = snapshot_model(spec, data, models[0]).state_dict()
    last = snapshot_model(spec, data, models[-1]).state_dict()
    start = model_state(backbone[1])
    for name, value in weights(first).items():
        assert torch.equal(value, start[name]), name
    steps = box(backbone[1]).steps
    assert torch.equal(first["halting_bias"], uniform_halting_bias(steps))
    assert torch.equal(first["halting_gain"], torch.ones(steps))
    for name in ("halting_weight", "halting_confidence", "halting_feature_mean"):
        assert not first[name].any(), name  # the backbone's are not zero
        assert start[name].any(), name
    assert int(first["halting_mean_batches"]) == 0
    assert not torch.equal(last["bottom_up.0"], start["bottom_up.0"])
    assert not torch.equal(last["readout_weight"], start["readout_weight"])


class Interrupted(Exception):
    """Stands for a run killed between two checkpoints."""


def test_a_fine_tuned_run_resumes_to_the_uninterrupted_result_without_its_backbone(
    backbone, tmp_path, monkeypatch
):
    """Stopped after its second checkpoint was taken (before it was written), the run
    resumes from its own checkpoint: the backbone may be gone by then."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(backbone[1] / "checkpoint.pt", copy / "checkpoint.pt")
    spec = fine_tune_spec(backbone, *TIME_ONLY, "lattice.halting_centred=true", init_from=copy)
    run_experiment(spec, tmp_path / "whole" / "fine", progress=False)

    def stopping(point, count):
        if (point, count) == ("checkpoint-taken", 2):
            raise Interrupted

    monkeypatch.setattr(growsim.train.trainer, "crash_point", stopping)
    with pytest.raises(Interrupted):
        run_experiment(spec, tmp_path / "stopped" / "fine", progress=False)
    monkeypatch.undo()
    shutil.rmtree(copy)
    run_experiment(spec, tmp_path / "stopped" / "fine", resume=True, progress=False)
    assert_same_run(tmp_path / "stopped" / "fine", tmp_path / "whole" / "fine")
    # the backbone's id, read before the stop, survives it (the backbone is gone by now)
    ids = [json.loads((tmp_path / part / "fine" / "summary.json").read_text())["backbone_run_id"]
           for part in ("whole", "stopped")]  # fmt: skip
    assert ids[0] and ids[0] == ids[1]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], r"training.init_from: .*nowhere is not a directory"),
        (["lattice.channels.initial=4", "lattice.channels.max=4"],
         r"training.init_from: the backbone's box has \d+ channels, more than lattice.channels.max \(4\)"),
        (["data.classes=4"], r"training.init_from: the backbone tells 3 classes apart, .* 4"),
        (["lattice.kernel_size=5"], r"training.init_from: .* bottom_up.0 is \(\d+, 1, 3, 3\) there, \(\d+, 1, 5, 5\) here"),
    ],
    ids=["missing", "box-too-big", "classes", "shapes"],
)  # fmt: skip
def test_a_backbone_that_does_not_fit_is_refused_naming_init_from(
    backbone, tmp_path, overrides, message
):
    init_from = tmp_path / "nowhere" if not overrides else None
    spec = fine_tune_spec(backbone, *overrides, init_from=init_from)
    with pytest.raises(SpecError, match=message):
        run_experiment(spec, tmp_path / "fine", progress=False)


def test_a_corrupt_backbone_checkpoint_is_refused_naming_init_from(backbone, tmp_path):
    (tmp_path / "copy").mkdir()
    content = (backbone[1] / "checkpoint.pt").read_bytes()
    (tmp_path / "copy" / "checkpoint.pt").write_bytes(content[:-100])
    spec = fine_tune_spec(backbone, init_from=tmp_path / "copy")
    with pytest.raises(SpecError, match=r"training.init_from: .*fails its checksum.*another run"):
        run_experiment(spec, tmp_path / "fine", progress=False)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["training.trainable=time", "growth.enabled=false", "compaction.enabled=false"],
         "training.trainable: time trains the halting parameters .* set training.init_from"),
        (["training.trainable=time", "training.init_from=x", "compaction.enabled=false"],
         "growth.enabled: must be false"),
        (["training.trainable=time", "training.init_from=x", "growth.enabled=false"],
         "compaction.enabled: must be false"),
        ([*TIME_ONLY, "training.init_from=x", "costs.depth.weight=0.1"],
         "costs.depth.weight: must be 0: .* the depth pressure would shrink the frozen weights"),
    ],
    ids=["without-init-from", "growth", "compaction", "pressure"],
)  # fmt: skip
def test_training_time_alone_needs_a_backbone_and_a_fixed_box_without_pressure(
    tiny_spec, overrides, message
):
    with pytest.raises(SpecError, match=message):
        load_spec(tiny_spec, overrides)


def test_every_tensor_of_time_selection_is_named_as_one_to_start_afresh():
    """A halting parameter or buffer missing from TIME_SELECTION_STATE would be taken from
    the backbone instead of starting as a new network's."""
    model = LatticeNetwork(Box(2, 4, 3), in_channels=1, classes=3, halting_centred=True)
    time_ids = {id(parameter) for parameter in model.time_parameters()}
    trained = {name for name, p in model.named_parameters() if id(p) in time_ids}
    halting = {name for name in model.state_dict() if name.startswith("halting")}
    assert trained | halting == set(TIME_SELECTION_STATE)


def test_seed_in_init_from_picks_each_seeds_own_backbone(backbone, tmp_path):
    """``{seed}`` in training.init_from stands for training.seed: a sweep over seeds starts
    each from its own backbone, and a seed without one is refused by name."""
    shutil.copytree(backbone[1], tmp_path / "backbone-seed=3")
    template = str(tmp_path / "backbone-seed={seed}")
    spec = fine_tune_spec(backbone, *TIME_ONLY, "training.seed=3", init_from=template)
    run_experiment(spec, tmp_path / "fine", progress=False)
    assert box(tmp_path / "fine") == box(backbone[1])
    other = fine_tune_spec(backbone, *TIME_ONLY, "training.seed=4", init_from=template)
    with pytest.raises(
        SpecError, match=r"training.init_from: .*backbone-seed=4 is not a directory"
    ):
        run_experiment(other, tmp_path / "other", progress=False)
