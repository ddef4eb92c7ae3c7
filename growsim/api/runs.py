"""``growsim.run`` trains a spec; ``growsim.open_run`` reads what a run wrote.

A ``Run`` is a run directory seen from Python: each attribute reads its file the first time
it is asked for and keeps it (a run still training is read as it was then)::

    run = growsim.open_run("outputs/quick")
    run.trajectory.active_width.plot.line(x="iteration", hue="layer")
    run.per_image.expected_steps.mean("image")
    run.predict(images).expected_steps                  # model "reaction times"
    run.activations(images).sel(layer=1, step=2)        # for representational similarity
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from growsim.errors import RunError, SpecError
from growsim.files import PER_IMAGE_NAME, SPEC_NAME, SUMMARY_NAME

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from growsim.model.lattice import LatticeNetwork
    from growsim.runs.predict import FinishedRun, Stimuli
    from growsim.spec import Spec


def run(
    spec: Spec | str | Path,
    out: str | Path = "outputs",
    *,
    name: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    tensorboard: str | Path | None = None,
) -> Run:
    """Train ``spec`` (a ``Spec``, or the path of a YAML spec) in ``out/<name>`` and return the
    finished ``Run``.

    ``name`` defaults to the spec's ``name``. A directory that already holds a run is
    refused unless ``resume`` (continue it; a finished run is returned as it is) or
    ``overwrite`` (train it again). ``tensorboard``: also write TensorBoard scalars to this
    directory (needs ``pip install 'growsim[tensorboard]'``). Raises ``SpecError`` or
    ``DataError`` for a spec or data that cannot run, ``RunError`` for a directory that
    cannot be written.
    """
    from growsim.api.specs import load_spec
    from growsim.runs.directories import run_directory
    from growsim.spec import check_data_source

    if not hasattr(spec, "lattice"):
        spec = load_spec(spec)
    if spec.sweep is not None:
        raise SpecError(f"spec {spec.name!r} has a sweep: block; run it with growsim.sweep")
    check_data_source(spec, spec.name)
    run_dir = run_directory(spec, out, name)
    if name is not None:  # the run is called what its directory is called
        spec = dataclasses.replace(spec, name=name)
    recorders = []
    if tensorboard is not None:
        from growsim.record.tensorboard import TensorBoardRecorder

        recorders.append(TensorBoardRecorder(tensorboard))

    from growsim.runs.experiment import run_experiment

    try:
        run_experiment(
            spec,
            run_dir,
            resume=resume,
            overwrite=overwrite,
            progress=progress,
            recorders=recorders,
        )
    finally:
        for recorder in recorders:
            recorder.close()
    return Run(run_dir)


def open_run(path: str | Path) -> Run:
    """The run in directory ``path`` (what ``growsim run`` or ``growsim.run`` wrote)."""
    return Run(path)


class Run:
    """A run directory: its spec, growth trajectory, per-image results, summary and final model.

    Raises ``RunError`` when ``path`` holds no run, and, from the attributes that need a
    finished run (``per_image``, ``summary``, ``model``, ``predict``, ``activations``), when
    the run has not finished.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / SPEC_NAME).is_file():
            raise RunError(
                f"{self.path}: not a run directory (no {SPEC_NAME}); give a directory growsim run wrote"
            )

    def __repr__(self) -> str:
        state = "finished" if self.finished else "not finished"
        return f"Run({str(self.path)!r}, {state})"

    @property
    def finished(self) -> bool:
        """Whether the run has trained to its end (its summary is written last)."""
        return (self.path / SUMMARY_NAME).is_file()

    @cached_property
    def spec(self) -> Spec:
        """The resolved spec the run trained with (every default filled in)."""
        from growsim.spec import parse_stored_spec, read_spec_text

        return parse_stored_spec(read_spec_text(self.path / SPEC_NAME), str(self.path / SPEC_NAME))

    @cached_property
    def trajectory(self) -> xr.Dataset:
        """The growth trajectory, in memory: dims ``checkpoint`` (indexed by ``iteration``
        too: ``.sel(iteration=300)``), ``layer``, ``channel``, ``step``, ``occlusion``, ..."""
        from growsim.record.trajectory import open_trajectory

        with open_trajectory(self.path, lazy=False) as trajectory:
            return trajectory.load().set_xindex("iteration")

    @cached_property
    def per_image(self) -> xr.Dataset:
        """What the final model did with each test image, in memory: dims ``occlusion``,
        ``image`` (``image_id`` names it in its source), ``step``, ``exit_threshold``."""
        from growsim.record.variables import open_per_image

        self._require_finished("per-image results")
        with open_per_image(self.path / PER_IMAGE_NAME, chunks=None) as per_image:
            return per_image.load()

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The final summary (what ``growsim run`` prints): accuracy, box, width, depth,
        expected steps, wall time."""
        self._require_finished("summary")
        from growsim.integrity import read_json

        return read_json(
            self.path / SUMMARY_NAME, "the run's summary", "run it again with --overwrite"
        )

    @property
    def model(self) -> LatticeNetwork:
        """The final trained network (a ``torch.nn.Module`` in eval mode)."""
        return self._final.model

    def predict(
        self,
        images: Any,
        *,
        labels: Sequence[int] | None = None,
        ids: Sequence | None = None,
        occlusion: float | Sequence[float] = 0.0,
        exit_threshold: float | None = None,
        seed: int = 0,
    ) -> xr.Dataset:
        """The final model on ``images``: predicted class, ``confidence`` (probability of the
        predicted class), ``expected_steps`` (the model's reaction time), the time
        distribution ``step_probs`` and ``steps_computed`` with early exit, per (occlusion,
        image); with ``labels`` also ``correct`` and ``true_class_probability``.

        ``images``: an array, (n, H, W) grey or (n, H, W, C) / (n, C, H, W) with C = 1 or 3,
        uint8 in 0..255 or float in [0, 1], of the run's image size; or the path of a folder
        of image files or an ``.npz`` (as ``growsim predict`` reads). ``ids`` name the images
        (default: their index; the coordinate ``image_id``). ``occlusion``: the levels
        besides 0 (always included), occluders drawn with ``seed``. ``exit_threshold``
        defaults to the run's ``record.exit_threshold``.
        """
        from growsim.runs.predict import predict_stimuli

        levels = (occlusion,) if isinstance(occlusion, (int, float)) else tuple(occlusion)
        stimuli = self._stimuli(images, labels, ids)
        return predict_stimuli(
            self._final, stimuli, tuple(float(level) for level in levels), exit_threshold, seed
        )

    def activations(
        self,
        images: Any,
        *,
        labels: Sequence[int] | None = None,
        ids: Sequence | None = None,
        occlusion: float = 0.0,
        seed: int = 0,
    ) -> xr.DataArray:
        """The activation a = silu(h) of every unit of the final model at every time step, for
        each of ``images`` (as ``predict`` takes them): a DataArray with dims ``image``,
        ``layer``, ``channel``, ``step``, ``y``, ``x`` (``channel`` holds the lattice
        identity the trajectory uses; ``image_id`` and, given ``labels``, ``label`` are
        coordinates on ``image``). ``occlusion``: one level for every image."""
        from growsim.runs.activations import stimulus_activations

        return stimulus_activations(
            self._final, self._stimuli(images, labels, ids), occlusion, seed
        )

    def growth_figure(self) -> Figure:
        """The growth over training as a matplotlib Figure (a notebook shows it): active
        channels per layer, depth, the time distribution and accuracy per occlusion level."""
        from growsim.analysis.figures import growth_figure

        return growth_figure(self.trajectory, f"{self.path.name}: growth over training")

    def report(
        self, out: str | Path | None = None, reaction_times: str | Path | None = None
    ) -> Path:
        """Write ``growsim report``'s figures and ``report.md`` (into ``out``, default
        ``<run>/report``); returns the markdown file's path."""
        from growsim.analysis.report import write_report

        return write_report(self.path, out, reaction_times)

    # ------------------------------------------------------------------ internals

    @cached_property
    def _final(self) -> FinishedRun:
        from growsim.runs.predict import load_finished_run
        from growsim.train.run_data import resolve_device

        self._require_finished("final model")
        return load_finished_run(self.path, resolve_device("auto"))

    def _stimuli(self, images: Any, labels, ids) -> Stimuli:
        from growsim.runs.predict import read_stimuli, stimuli_from_arrays

        if isinstance(images, (str, Path)):
            if labels is not None or ids is not None:
                raise ValueError(
                    "labels and ids go with an array of images; a folder or .npz names its own"
                )
            return read_stimuli(images, self._final)
        return stimuli_from_arrays(self._final, images, ids, labels)

    def _require_finished(self, what: str) -> None:
        if not self.finished:
            raise RunError(
                f"{self.path}: the run has not finished, so it has no {what}; finish it with "
                "growsim.run(spec, resume=True) or `growsim run SPEC --resume`"
            )
