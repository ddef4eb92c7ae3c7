"""growsim from Python: load a spec with overrides, run it, open the run, predict, read the
activations, sweep; the import stays light; TensorBoard gets what the trajectory records."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import growsim
from growsim.data.datasets import load_dataset
from growsim.errors import DataError, RunError, SpecError
from growsim.model.lattice import LatticeNetwork
from growsim.record.tensorboard import TensorBoardRecorder
from growsim.runs.experiment import run_experiment
from growsim.runs.predict import model_inputs
from tests.conftest import TINY_SPEC

ROOT = Path(__file__).parent.parent
SHORT = {
    "training.iterations": 40,
    "record.every": 20,
    "data.train_size": 300,
    "data.test_size": 60,
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny run trained through the API, opened again from its directory."""
    root = tmp_path_factory.mktemp("api")
    (root / "tiny.yaml").write_text(TINY_SPEC)
    spec = growsim.load_spec(root / "tiny.yaml", SHORT)
    returned = growsim.run(spec, out=root / "runs", progress=False)
    return spec, returned, growsim.open_run(root / "runs" / "tiny")


def test_import_growsim_is_light_and_sweep_stays_the_function():
    script = (
        "import sys, growsim\n"
        "heavy = [m for m in ('torch', 'xarray', 'pydantic', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from growsim.sweep.runner import run_sweep\n"
        "from growsim.sweep import spec\n"
        "assert growsim.sweep.__module__ == 'growsim.api.sweeps', growsim.sweep\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    assert set(growsim.__all__) >= {"load_spec", "run", "open_run", "sweep", "Run", "__version__"}


def test_overrides_come_as_a_mapping_or_keywords_and_keywords_win(tiny_spec):
    spec = growsim.load_spec(
        tiny_spec, {"training.lr": 0.5, "data.occlusion.levels": (0.0, 0.2)},
        training__lr=0.25, name="other", costs__time__weight=np.float64(0.1),
    )  # fmt: skip
    assert spec.training.lr == 0.25 and spec.name == "other" and spec.costs.time.weight == 0.1
    assert spec.data.occlusion.levels == (0.0, 0.2)
    assert growsim.load_spec(tiny_spec) == growsim.load_spec(tiny_spec, {})
    with pytest.raises(SpecError, match=r"training.lr: must be > 0, got -1"):
        growsim.load_spec(tiny_spec, training__lr=-1)
    with pytest.raises(SpecError, match="training has no key 'speed'"):
        growsim.load_spec(tiny_spec, training__speed=2)


def test_a_run_opened_again_holds_what_training_wrote(finished):
    spec, returned, run = finished
    assert returned.path == run.path and run.finished and "finished" in repr(run)
    assert run.spec == spec
    assert run.summary["iteration"] == 40 == int(run.trajectory.iteration[-1])
    assert run.trajectory.sel(iteration=20).depth.dims == ()  # indexed by iteration
    assert dict(run.per_image.sizes)["image"] == 60
    assert isinstance(run.model, LatticeNetwork) and not run.model.training
    figure = run.growth_figure()
    assert len(figure.axes) >= 4


def test_predict_on_arrays_repeats_the_runs_own_test_results(finished):
    """The run's test images given as a plain array give the run's own per-image numbers:
    the same normalisation and the same model."""
    spec, _, run = finished
    dataset = load_dataset(spec.data, spec.data.seed)
    images, labels = dataset.test_images.numpy(), dataset.test_labels.numpy()
    predicted = run.predict(images, labels=labels, ids=[f"img{i}" for i in range(len(images))])
    clean = predicted.isel(occlusion=0)
    per_image = run.per_image.isel(occlusion=0)
    np.testing.assert_allclose(
        clean.expected_steps.values, per_image.expected_steps.values, atol=1e-5
    )
    np.testing.assert_allclose(
        clean.true_class_probability.values, per_image.true_class_probability.values, atol=1e-5
    )
    assert clean.image_id.values.tolist()[:2] == ["img0", "img1"]
    uint8 = run.predict((images * 255).round().astype(np.uint8)[:5, 0])  # (n, H, W) grey bytes
    assert uint8.sizes["image"] == 5 and "correct" not in uint8
    with pytest.raises(DataError, match="image_size"):
        run.predict(np.zeros((2, 7, 7), dtype=np.uint8))


def test_activations_are_named_and_the_readout_reads_the_top_layer(finished):
    """The top layer's activations, averaged over positions, give the readout's logits at
    every step: the array holds the states the network computes, in the order it names."""
    spec, _, run = finished
    dataset = load_dataset(spec.data, spec.data.seed)
    images = dataset.test_images.numpy()[:6]
    activations = run.activations(images, labels=dataset.test_labels.numpy()[:6])
    box = run.model.box
    assert activations.dims == ("image", "layer", "channel", "step", "y", "x")
    assert activations.sizes["layer"] == box.layers and activations.sizes["step"] == box.steps
    assert activations.channel.values.tolist() == run.model.channel_ids.tolist()
    assert activations.label.values.tolist() == dataset.test_labels.numpy()[:6].tolist()
    features = activations.isel(layer=-1).mean(("y", "x")).transpose("image", "step", "channel")
    model = run.model
    logits = (
        torch.from_numpy(features.values) @ model.readout_weight.flatten(1).T.cpu()
        + model.readout_bias.cpu()
    )
    with torch.no_grad():
        inputs = model_inputs(run._final, torch.from_numpy(images), 0.0, torch.Generator())
        expected = model(inputs).logits.cpu()
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


def test_an_unfinished_or_missing_run_says_so(tmp_path, finished):
    with pytest.raises(RunError, match="not a run directory"):
        growsim.open_run(tmp_path)
    _, _, run = finished
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "spec.yaml").write_text((run.path / "spec.yaml").read_text())
    opened = growsim.open_run(unfinished)
    assert not opened.finished and opened.spec == run.spec  # what is there reads
    with pytest.raises(RunError, match="has not finished"):
        opened.predict(np.zeros((1, 20, 20)))


def test_a_sweep_from_python_combines_its_members(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC)
    spec = growsim.load_spec(tmp_path / "tiny.yaml", SHORT, training__iterations=20)
    results = growsim.sweep(
        spec,
        out=tmp_path / "out",
        grid={"costs.time.weight": [0.0, 0.02]},
        workers=2,
        progress=False,
    )
    assert not results.failed
    assert results.trajectories.sizes["run"] == 2
    assert results.trajectories["costs.time.weight"].values.tolist() == [0.0, 0.02]
    assert {run.spec.costs.time.weight for run in results.runs.values()} == {0.0, 0.02}


class FakeWriter:
    def __init__(self):
        self.scalars, self.flushed, self.closed = {}, 0, False

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, {})[step] = value

    def flush(self):
        self.flushed += 1

    def close(self):
        self.closed = True


def test_tensorboard_gets_every_checkpoint_as_the_trajectory_records_it(tmp_path, tiny_spec):
    spec = growsim.load_spec(tiny_spec, SHORT, data__occlusion__levels=[0.0, 0.3])
    writer = FakeWriter()
    run_experiment(
        spec, tmp_path / "run", progress=False, recorders=[TensorBoardRecorder(tmp_path, writer)]
    )
    trajectory = growsim.open_run(tmp_path / "run").trajectory
    iterations = trajectory.iteration.values.tolist()
    assert iterations == [0, 20, 40] and writer.flushed >= 1
    for tag, variable in (("resources/depth", "depth"), ("accuracy/validation", "validation_accuracy"),
                          ("box/channels", "box_channels")):  # fmt: skip
        assert list(writer.scalars[tag]) == iterations
        np.testing.assert_allclose(
            list(writer.scalars[tag].values()), trajectory[variable].values, rtol=1e-6
        )
    occluded = writer.scalars["accuracy/validation, 30% occluded"]
    np.testing.assert_allclose(
        list(occluded.values()),
        trajectory.validation_accuracy_by_occlusion.sel(occlusion=0.3).values,
        rtol=1e-6,
    )
    assert list(writer.scalars["accuracy/test"]) == [40]  # NaN between test evaluations: left out


def test_tensorboard_event_files_are_written(tmp_path, tiny_spec):
    pytest.importorskip("tensorboard")
    spec = dataclasses.replace(growsim.load_spec(tiny_spec, SHORT), name="tb")
    growsim.run(spec, out=tmp_path, progress=False, tensorboard=tmp_path / "events")
    assert list((tmp_path / "events").glob("events.out.tfevents.*"))
