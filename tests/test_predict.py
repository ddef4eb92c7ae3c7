"""End to end through the CLI: train on an image folder, predict a stimulus set, report with RTs."""

import csv
import shutil

import numpy as np
import pytest
import xarray as xr

from growsim.cli import main
from tests.stimuli import SHAPE_NAMES, shape_folders

FOLDER_SPEC = """
name: stimuli
lattice:
  layers: {{initial: 1, max: 2}}
  channels: {{initial: 6, max: 8}}
  steps: {{initial: 3, max: 3}}
costs:
  time: {{weight: 0.03}}
data:
  dataset: folder
  path: {path}
  channels: 3
  image_size: 16
  occlusion: {{levels: [0.0], patch_size: 4}}
training: {{lr: 0.01, step_supervision: 0.5, batch_size: 32, iterations: 150, seed: 0, threads: 1}}
record: {{every: 75}}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained on a folder of grey PNG and RGB JPEG shapes (24 px, resized to 16)."""
    root = tmp_path_factory.mktemp("folder-run")
    data = shape_folders(root / "shapes")
    spec = root / "spec.yaml"
    spec.write_text(FOLDER_SPEC.format(path=data))
    assert main(["run", str(spec), "--out", str(root / "runs"), "--no-progress"]) == 0
    return root / "runs" / "stimuli", data


def predict(run, images, *extra):
    return main(["predict", str(run), str(images), *extra])


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_folder_run_learns_and_keys_its_images_by_path(trained):
    run, data = trained
    with xr.open_zarr(run / "per_image.zarr") as per_image:
        ids = per_image.image_id.values.tolist()
        accuracy = float(per_image.correct.isel(occlusion=0).mean())
    expected = sorted(p.relative_to(data / "test").as_posix() for p in (data / "test").rglob("*.*"))
    assert sorted(ids) == expected and ids[0].startswith("disc/")
    assert accuracy > 0.45  # three classes: chance is 0.33
    with xr.open_zarr(run / "trajectory.zarr") as trajectory:
        assert list(trajectory.attrs["class_names"]) == list(SHAPE_NAMES)
        assert trajectory.validation_accuracy.values[-1] > trajectory.validation_accuracy.values[0]


def test_predict_on_the_test_folder_reproduces_the_runs_own_results(trained, tmp_path, capsys):
    run, data = trained
    assert predict(run, data / "test", "--out", str(tmp_path / "p")) == 0
    assert "accuracy" in capsys.readouterr().out
    predictions = xr.open_zarr(tmp_path / "p" / "predictions.zarr").load()
    per_image = xr.open_zarr(run / "per_image.zarr").load().isel(occlusion=0)
    clean = predictions.isel(occlusion=0)
    # same model, same decoded images, same normalisation, same order: the same numbers
    assert clean.image_id.values.tolist() == per_image.image_id.values.tolist()
    np.testing.assert_array_equal(clean.predicted.values, per_image.predicted.values)
    np.testing.assert_allclose(
        clean.expected_steps.values, per_image.expected_steps.values, atol=1e-6
    )
    np.testing.assert_allclose(
        clean.true_class_probability.values, per_image.true_class_probability.values, atol=1e-6
    )
    assert clean.label.values.tolist() == per_image.label.values.tolist()  # labelled by folder


INDICES = {"label", "predicted", "image_id"}  # class indices and identifiers: no units


def test_every_store_names_a_quantity_alike_with_cf_units(trained, tmp_path):
    """A name means one thing in every store (confidence: P(predicted class); true class
    probability: P(true class)), with the same attrs; numbers carry CF units ("1" for
    dimensionless ones), flags and indices none; each store says it follows CF."""
    run, data = trained
    assert predict(run, data / "test", "--out", str(tmp_path / "p")) == 0
    stores = {
        "trajectory": xr.open_zarr(run / "trajectory.zarr"),
        "per_image": xr.open_zarr(run / "per_image.zarr"),
        "predictions": xr.open_zarr(tmp_path / "p" / "predictions.zarr"),
    }
    for name, store in stores.items():
        assert store.attrs["Conventions"].startswith("CF-"), name
        for variable in {**store.data_vars, **store.coords}.values():
            kind, label = variable.dtype.kind, f"{name}.{variable.name}: {variable.attrs}"
            index = variable.name in INDICES or (variable.dims == (variable.name,) and kind != "f")
            if kind in "fiu" and not index:
                assert variable.attrs.get("units") == "1", label
            else:
                assert "units" not in variable.attrs, label
            assert variable.attrs.get("long_name"), label
    per_image, predictions = stores["per_image"], stores["predictions"]
    assert "confidence" not in per_image  # it held P(true class) before
    shared = set(per_image.variables) & set(predictions.variables) - {"image_id", "label"}
    assert {"true_class_probability", "expected_steps", "step_probs", "occlusion"} <= shared
    for name in shared:
        assert per_image[name].attrs == predictions[name].attrs, name
    clean = predictions.isel(occlusion=0)
    probabilities = np.stack([clean.confidence.values, clean.true_class_probability.values])
    assert (
        probabilities[0] >= probabilities[1] - 1e-6
    ).all()  # the predicted class is the likeliest
    right = clean.correct.values
    np.testing.assert_allclose(probabilities[0][right], probabilities[1][right], atol=1e-6)


def test_predictions_csv_has_one_row_per_image_and_level(trained, tmp_path):
    run, data = trained
    assert predict(run, data / "test", "--out", str(tmp_path / "p"), "--occlusion", "0.5") == 0
    rows = read_csv(tmp_path / "p" / "predictions.csv")
    predictions = xr.open_zarr(tmp_path / "p" / "predictions.zarr").load()
    assert predictions.occlusion.values.tolist() == [0.0, 0.5]
    assert len(rows) == 2 * predictions.sizes["image"]
    for row in rows:
        p = np.array([float(row[f"p_step_{t}"]) for t in (1, 2, 3)])
        assert p.sum() == pytest.approx(1, abs=1e-5)
        assert float(row["expected_steps"]) == pytest.approx((p * [1, 2, 3]).sum(), abs=1e-5)
        assert row["correct"] == str(int(row["predicted_class"] == row["true_class"]))
        assert row["true_class"] == row["image_id"].split("/")[0]
    # occlusion changes what the model sees: some predictions or confidences move
    assert not np.allclose(predictions.confidence.values[0], predictions.confidence.values[1])


def test_early_exit_computes_fewer_steps_within_its_bound(trained, tmp_path):
    run, data = trained
    assert predict(run, data / "test", "--out", str(tmp_path / "all")) == 0
    assert (
        predict(run, data / "test", "--out", str(tmp_path / "exit"), "--exit-threshold", "0.3") == 0
    )
    full = xr.open_zarr(tmp_path / "all" / "predictions.zarr").load()
    early = xr.open_zarr(tmp_path / "exit" / "predictions.zarr").load()
    assert (full.steps_computed == 3).all() and early.steps_computed.mean() < 3
    difference = np.abs(early.expected_steps.values - full.expected_steps.values)
    assert difference.max() <= 0.3 * 3 + 1e-5  # steps / box steps move by at most the threshold


def test_unlabelled_stimuli_and_npz_stimuli(trained, tmp_path):
    run, data = trained
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted((data / "test").rglob("*.png"))[:4]:
        shutil.copy(path, flat / f"{path.parent.name}-{path.name}")
    assert predict(run, flat, "--out", str(tmp_path / "flat-out")) == 0
    predictions = xr.open_zarr(tmp_path / "flat-out" / "predictions.zarr").load()
    assert "correct" not in predictions and predictions.sizes["image"] == 4
    assert predictions.image_id.values[0].startswith("disc-")
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=images, ids=np.array(["a", "b", "c", "d", "e"]),
             labels=np.array([0, 1, 2, 0, 1]))  # fmt: skip
    assert predict(run, tmp_path / "set.npz") == 0  # default: RUN/predictions/<name>
    out = run / "predictions" / "set"
    rows = read_csv(out / "predictions.csv")
    assert [row["image_id"] for row in rows] == ["a", "b", "c", "d", "e"]
    assert [row["true_class"] for row in rows] == ["disc", "square", "triangle", "disc", "square"]


def test_report_correlates_predicted_time_with_a_trial_table(trained, tmp_path, capsys):
    run, data = trained
    assert predict(run, data / "test", "--out", str(tmp_path / "p")) == 0
    rows = read_csv(tmp_path / "p" / "predictions.csv")
    table = tmp_path / "trials.csv"
    with open(table, "w") as stream:  # two subjects, RT rising with model time
        stream.write("subj,Session,trial,rt,object_response,category,condition,imagename\n")
        for index, row in enumerate(rows):
            name, category = row["image_id"].split("/")[1], row["true_class"]
            rt = 0.4 + float(row["expected_steps"])
            stream.write(f"s1,1,{index},{rt:.6f},{category},{category},c100,{name}\n")
            stream.write(f"s2,1,{index},{rt + 0.01:.6f},{category},{category},c100,{name}\n")
        # two wrong answers on the fastest image: counted in, they would make it the slowest
        fastest = min(rows, key=lambda row: float(row["expected_steps"]))
        for trial in (998, 999):
            name = fastest["image_id"].split("/")[1]
            stream.write(f"s2,1,{trial},9.9,wrong,{fastest['true_class']},c100,{name}\n")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "p"), "--reaction-times", str(table)]) == 0
    printed = capsys.readouterr().err  # a note on the way (the growsim logger), not the output
    count = len(rows)
    assert f"{count} of those matched, giving {count} of the {count} images analysed" in printed
    assert "2 incorrect" in printed
    report = (tmp_path / "p" / "report" / "report.md").read_text()
    # one occlusion level: no occlusion section, but the spread of time over images is there
    assert "## Occlusion" not in report and "## Time use over images" in report
    assert "| 0% | " in report.split("## Time use over images")[1]
    assert (
        "| human reaction time | 1.000 [" in report
        and (tmp_path / "p" / "report" / "difficulty.png").exists()
    )


def test_report_of_the_run_matches_rts_by_path(trained, tmp_path, capsys):
    run, _ = trained
    with xr.open_zarr(run / "per_image.zarr") as per_image:
        ids = per_image.image_id.values.tolist()
        steps = per_image.expected_steps.values[0]
    table = tmp_path / "rts.csv"
    table.write_text(
        "image_id,rt\n" + "".join(f"{i},{700 - 100 * s}\n" for i, s in zip(ids[::2], steps[::2]))
    )
    assert (
        main(["report", str(run), "--reaction-times", str(table), "--out", str(tmp_path / "r")])
        == 0
    )
    assert f"giving {len(ids[::2])} of the {len(ids)} images analysed" in capsys.readouterr().err
    assert "| human reaction time | -1.000 [" in (tmp_path / "r" / "report.md").read_text()


def test_predict_refuses_what_it_cannot_use(trained, tmp_path, capsys):
    run, data = trained
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished, ignore=shutil.ignore_patterns("per_image.zarr", "predictions"))
    assert predict(unfinished, data / "test") == 2
    assert "the run has not finished" in capsys.readouterr().err
    assert predict(tmp_path, data / "test") == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert predict(run, tmp_path / "empty") == 2
    assert "empty: holds no image files" in capsys.readouterr().err
    assert predict(run, data / "test", "--exit-threshold", "0.9") == 2
    assert "--exit-threshold must lie in [0, 0.5]" in capsys.readouterr().err
    np.savez(tmp_path / "small.npz", images=np.zeros((2, 8, 8), np.uint8))
    assert predict(run, tmp_path / "small.npz") == 2
    assert "images are 8 x 8 but data.image_size is 16" in capsys.readouterr().err


def test_the_speed_accuracy_curve_agrees_with_predictions_at_each_threshold(trained, tmp_path):
    run, data = trained
    per_image = xr.open_zarr(run / "per_image.zarr").load()
    thresholds = per_image.exit_threshold.values.tolist()
    assert thresholds[0] == 0.0 and 0.2 in thresholds
    exact = per_image.exit_accuracy.sel(exit_threshold=0.0).values
    np.testing.assert_allclose(exact, per_image.correct.mean("image").values, atol=1e-6)
    assert (per_image.exit_steps.sel(exit_threshold=0.0) == 3).all()
    assert (
        np.diff(per_image.exit_steps.values, axis=0) <= 1e-6
    ).all()  # later exit, never more steps
    assert (
        predict(run, data / "test", "--out", str(tmp_path / "exit"), "--exit-threshold", "0.2") == 0
    )
    early = xr.open_zarr(tmp_path / "exit" / "predictions.zarr").load().isel(occlusion=0)
    at = per_image.sel(exit_threshold=0.2).isel(occlusion=0)
    assert float(at.exit_steps) == pytest.approx(float(early.steps_computed.mean()), abs=1e-5)
    assert float(at.exit_accuracy) == pytest.approx(float(early.correct.mean()), abs=1e-6)
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert (
        "## Speed and accuracy" in report and (tmp_path / "report" / "speed_accuracy.png").exists()
    )
