"""The training loop: task loss + scheduled resource costs, growth and compaction at
checkpoints, and ``checkpoint.pt`` to resume from.

The trainer owns all mutable state of a run (model, optimiser, iteration). At each
checkpoint it measures the model on the validation split (growth and compaction decide on
it), evaluates the test sets when due (reported only), and hands the result to the
``Recorder`` it was given (growsim.record.recorder writes the trajectory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from growsim.data.datasets import Dataset, load_dataset
from growsim.faults import crash_point
from growsim.files import CHECKPOINT_NAME
from growsim.integrity import RunIdentity
from growsim.model import costs, memory
from growsim.model.compaction import plan_compaction
from growsim.model.growth import ActiveRegion, active_region, grown_box, initial_network
from growsim.model.lattice import Box, LatticeNetwork, Prediction
from growsim.model.reshape import compact_with_optimizer, grow, grow_with_optimizer, shrink_to
from growsim.spec import Spec, spec_to_yaml
from growsim.threads import checked_threads
from growsim.train.backbone import backbone_network
from growsim.train.checkpoint_file import read_checkpoint
from growsim.train.checkpoint_state import (
    CheckpointState,
    Recorder,
    checkpoint_summary,
    progress_text,
)
from growsim.train.evaluation import (
    EXIT_THRESHOLDS,
    EvalResult,
    PredictionCache,
    evaluation_result,
    first_levels_result,
    not_evaluated,
    predict_sets,
    predict_sets_at,
)
from growsim.train.numerics import check_magnitudes
from growsim.train.optimisation import apply_cost_pressure, loss_function, make_optimizer
from growsim.train.run_data import (
    RunData,
    batches_per_epoch,
    prepare_run_data,
    resolve_device,
    seeded_generator,
    training_batch,
)
from growsim.train.running_losses import RunningLosses
from growsim.train.saving import CheckpointSaver, write_model_snapshot
from growsim.train.schedules import cost_weights, costs_at_full_weight, learning_rate_factor
from growsim.train.timing import RunClock, no_time_spent, timed


@dataclass
class Trainer:
    """Trains one spec in one run directory; owns the model, optimiser and iteration.
    ``recorder`` receives every checkpoint (None: nothing is recorded, e.g. in benchmarks)."""

    spec: Spec
    run_dir: Path
    progress: bool = True
    recorder: Recorder | None = None
    on_checkpoint: Callable[["Trainer", dict], None] | None = None
    compile_backend: str | Callable = "inductor"  # torch.compile's backend (tests count graphs)
    identity: RunIdentity | None = None  # the run's (growsim.integrity); None: not checked
    device: torch.device = field(init=False)
    dataset: Dataset = field(init=False)
    data: RunData = field(init=False)
    model: LatticeNetwork = field(init=False)
    iteration: int = field(init=False, default=0)
    checkpoints_written: int = field(init=False, default=0)
    clock: RunClock = field(init=False, default_factory=RunClock)  # wall and CPU seconds
    backbone_run_id: str = field(init=False, default="")  # the run training.init_from named
    # Seconds in training steps and in checkpoints (with writes), over all segments of a run
    time_spent: dict[str, float] = field(init=False, default_factory=no_time_spent)
    _last_train_accuracy: float = field(init=False, default=math.nan)  # over the last interval
    # The test-set predictions of the model as it was at (iteration, model version), per exit
    # threshold: the final checkpoint's pass is reused by per_image instead of being
    # computed again. Code that changes trainer.model's weights by hand must bump
    # _model_version (every change growsim makes does).
    _model_version: int = field(init=False, default=0)
    _test_predictions: PredictionCache = field(init=False, default_factory=PredictionCache)

    def __post_init__(self) -> None:
        spec = self.spec
        self.run_dir = Path(self.run_dir)
        self.device = resolve_device(spec.training.device)
        if checked_threads(spec.training.threads):
            torch.set_num_threads(spec.training.threads)
        memory.check_data_fits(spec, memory.available_bytes(self.device))  # before loading
        self.dataset = load_dataset(spec.data, spec.data.seed)
        self.data = prepare_run_data(spec, self.dataset, self.device)
        lattice = spec.lattice
        self.max_box = Box(lattice.layers.max, lattice.channels.max, lattice.steps.max)
        map_size = math.ceil(self.data.train_images.shape[-1] / lattice.input_stride)
        classes = len(self.dataset.class_names)
        needed = memory.training_bytes(spec, map_size, classes)
        memory.check_fits(spec, needed, memory.available_bytes(self.device))
        self.model = initial_network(spec, self.data.train_images.shape[1], classes).to(self.device)
        self.optimizer = self._make_optimizer()
        self.total_iterations = self._total_iterations()
        self.losses = RunningLosses(self.device)
        # the scheduled time weight, filled in at each step
        self._time_weight = torch.zeros((), dtype=torch.float32, device=self.device)
        if self.recorder is not None:
            self.recorder.start(spec, self.dataset, self.max_box, self.data.eval_levels)
        self.saver = CheckpointSaver(self.checkpoint_path, self.recorder, spec.record.write_seconds)
        self._spec_text = spec_to_yaml(spec)
        self._loss_terms = self._make_loss_function()

    @property
    def checkpoint_path(self) -> Path:
        """Where the latest model checkpoint lives."""
        return self.run_dir / CHECKPOINT_NAME

    @property
    def batches_per_epoch(self) -> int:
        """Iterations in one pass over the training split (full batches)."""
        return batches_per_epoch(len(self.data.train_labels), self.spec.training.batch_size)

    @property
    def eval_levels(self) -> tuple[float, ...]:
        """The occlusion levels evaluated (0.0 first)."""
        return self.data.eval_levels

    def _total_iterations(self) -> int:
        training = self.spec.training
        return training.iterations or max(1, round(training.epochs * self.batches_per_epoch))

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model, self.spec.training)

    def _make_loss_function(self):
        return loss_function(self.spec.training.compile, self.device, self.compile_backend)

    def cost_weights(self, iteration: int) -> dict[str, float]:
        """The scheduled weight of each cost at ``iteration``."""
        return cost_weights(self.spec.costs, iteration)

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised training images and labels of ``iteration``."""
        return training_batch(self.data, self.spec, iteration)

    def train_step(self, iteration: int) -> None:
        """One optimiser step on the batch of ``iteration``, then the breadth and depth
        pressure as a proximal step (see growsim.model.proximal)."""
        images, labels = self.batch(iteration)
        self._model_version += 1
        weights = self.cost_weights(iteration)
        self.model.train()
        self._set_learning_rates(iteration)
        total, task, time_, correct = self._loss_terms(
            self.model, images, labels, self._time_weight.fill_(weights["time"]), self.spec.training.step_supervision,
            self.spec.training.time_entropy,
        )  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        apply_cost_pressure(self.model, self.optimizer, weights, self.spec.costs, self.max_box)
        self.losses.add(
            iteration, self.checkpoints_written, total, task, time_, correct, len(labels)
        )

    def _set_learning_rates(self, iteration: int) -> None:
        """Scale both parameter groups' learning rates by the schedule at ``iteration``."""
        training = self.spec.training
        factor = learning_rate_factor(training.lr_schedule, iteration, self.total_iterations)
        for group, base in zip(self.optimizer.param_groups, (training.lr, training.time_lr)):
            group["lr"] = base * factor

    def run(self) -> dict:
        """Train to the end, writing checkpoints; returns the final summary."""
        from tqdm.auto import tqdm

        self.clock.start()
        if self.iteration == 0 and self.checkpoints_written == 0:
            if self.spec.training.init_from is not None:  # (a resumed run has its own)
                self.start_from_backbone()
            timed(self.time_spent, "checkpoints", self.checkpoint, grow=False)
        every = self.spec.record.every
        bar = tqdm(
            total=self.total_iterations, initial=self.iteration, disable=not self.progress,
            desc=self.spec.name, unit="it", dynamic_ncols=True,
        )  # fmt: skip
        summary: dict = {}
        with (
            bar,
            self.saver.writing_unsaved_on_exit(),
            self.losses.noted_on_exit(lambda: self.checkpoints_written),
        ):
            while self.iteration < self.total_iterations:
                timed(self.time_spent, "training", self.train_step, self.iteration)
                self.iteration += 1
                bar.update(1)
                last = self.iteration == self.total_iterations
                if self.iteration % every == 0 or last:
                    timed(self.time_spent, "training", self.losses.wait_for_device)
                    # The final model is the trained one: no growth or compaction after it.
                    grow = not last and self._costs_at_full_weight()
                    summary = timed(
                        self.time_spent, "checkpoints", self.checkpoint, grow=grow, final=last
                    )
                    bar.set_postfix_str(progress_text(summary))
        if not summary:
            summary = self.final_summary()
        summary["seconds"] = self.clock.wall()
        if self.spec.training.init_from is not None:
            summary["backbone_run_id"] = self.backbone_run_id
        summary["time_spent"] = dict(self.time_spent)
        return summary

    def _costs_at_full_weight(self) -> bool:
        """True once every cost's schedule has reached its full weight (or growth does not
        wait for them): the box grows only under the pressures it will be trained with."""
        if not self.spec.growth.wait_for_costs:
            return True
        return costs_at_full_weight(self.spec.costs, self.iteration - 1)

    def predict_test_sets(self) -> list[Prediction]:
        """The model's predictions on the fixed test set of every occlusion level, in order,
        at ``record.exit_threshold`` (computed once per model state)."""
        threshold = self.spec.record.exit_threshold
        return self.test_predictions((threshold,))[threshold]

    def test_predictions(self, thresholds: tuple[float, ...]) -> dict[float, list[Prediction]]:
        """Per exit threshold, the predictions on every test set; the thresholds not yet
        computed for this model state are computed in one pass."""
        compute = partial(predict_sets_at, self.model, self.data.test_sets, self.data.normalise)
        return self._test_predictions.at((self.iteration, self._model_version), thresholds, compute)

    def evaluate(
        self, split: str = "test", every_level: bool = True, size: int | None = None
    ) -> EvalResult:
        """Accuracy and expected steps on the fixed ``test`` or ``validation`` sets of every
        occlusion level (validation: the clean level only unless ``every_level``, the others
        NaN; the first ``size`` images of each, or all)."""
        if split == "test":
            return evaluation_result(self.predict_test_sets(), self.data.test_labels)
        # Every step computed: growth and compaction decide on the exact distribution
        # (early exit would fold later steps' probability into the exit step).
        sets = self.data.validation_sets if every_level else self.data.validation_sets[:1]
        predictions = predict_sets(self.model, [s[:size] for s in sets], self.data.normalise, 0.0)
        labels = self.data.validation_labels[:size]
        return first_levels_result(predictions, labels, len(self.eval_levels))

    def checkpoint(self, grow: bool, final: bool = False) -> dict:
        """Grow if the active region reaches the box edge, evaluate, record, save.

        The test sets are evaluated at the ``final`` checkpoint and at every
        ``record.test_every``-th one; in between, the test metrics are recorded as NaN."""
        self.losses.check(self.checkpoints_written)  # before anything is measured or recorded
        old_box, record = self.model.box, self.spec.record
        every_level = final or self.checkpoints_written % record.occluded_every == 0
        size = None if final else record.validation_size
        measure = partial(self._measure, every_level, size)
        magnitudes, validation, region = measure()
        if grow:  # decided on the validation split only (growth on its clean level)
            new_box = grown_box(
                old_box, region, self.spec.growth, self.max_box, self.spec.active.time_threshold
            )
            if new_box != old_box:
                self._grow(new_box)
                magnitudes, validation, region = measure()
            elif every_level and self.spec.compaction.enabled and self._compact(region, validation):
                magnitudes, validation, region = measure()  # (it reads every level)
        due = final or (record.test_every > 0 and self.checkpoints_written % record.test_every == 0)
        if final:  # the speed-accuracy curve's thresholds in the same pass (per_image reads them)
            self.test_predictions((record.exit_threshold, *EXIT_THRESHOLDS))
        evaluation = (  # reported, never decided on
            self.evaluate("test")
            if due
            else not_evaluated(len(self.eval_levels), self.model.box.steps)
        )
        state = CheckpointState(
            self.iteration, self.iteration / self.batches_per_epoch, self.model, old_box, self.max_box,
            magnitudes, region, validation, evaluation, self.losses.take(),
            self.cost_weights(max(self.iteration - 1, 0)),
        )  # fmt: skip
        if self.recorder is not None:
            self.recorder.record(state)
        if record.keep_models:
            write_model_snapshot(
                self.run_dir, self.iteration, self.model.box.__dict__, self.model.state_dict()
            )
        self.checkpoints_written += 1
        self._last_train_accuracy = state.running.accuracy()
        crash_point("checkpoint-taken", self.checkpoints_written)
        self.saver.taken(self._checkpoint_contents(), write=final)
        summary = checkpoint_summary(
            self.iteration, self.model.box, region, validation, evaluation,
            self._last_train_accuracy, self.eval_levels,
        )  # fmt: skip
        if self.on_checkpoint:
            self.on_checkpoint(self, summary)
        return summary

    def final_summary(self) -> dict:
        """The summary of the model as it is now (for a run that had nothing left to train)."""
        _, validation, region = self._measure()
        return checkpoint_summary(
            self.iteration, self.model.box, region, validation, self.evaluate("test"),
            self._last_train_accuracy, self.eval_levels,
        )  # fmt: skip

    def _measure(
        self, every_level: bool = True, size: int | None = None
    ) -> tuple[np.ndarray, EvalResult, ActiveRegion]:
        """Channel magnitudes, validation-set evaluation (``evaluate``'s ``every_level`` and
        ``size``) and active region of the model."""
        magnitudes = costs.channel_magnitudes(self.model.incoming_weights()).detach().cpu().numpy()
        check_magnitudes(magnitudes, self.iteration, self.checkpoints_written)
        validation = self.evaluate("validation", every_level, size)
        region = active_region(
            magnitudes, validation.time_distribution, self.spec.active.channel_threshold
        )
        return magnitudes, validation, region

    def start_from_backbone(self) -> None:
        """Start from the run ``training.init_from`` names (see growsim.train.backbone)."""
        self._model_version += 1
        self.model, self.backbone_run_id = backbone_network(self.spec, self.model)
        self.model = self.model.to(self.device)
        self.optimizer, self._loss_terms = self._make_optimizer(), self._make_loss_function()

    def _grow(self, box: Box) -> None:
        """Grow the model and carry the optimiser state over to the grown parameters."""
        self._model_version += 1
        generator = seeded_generator(self.spec.training.seed, 3, self.iteration)
        self.optimizer = grow_with_optimizer(
            self.model, self.optimizer, box, self.spec.growth.new_step_mass, generator,
            self._make_optimizer,
        )  # fmt: skip
        self._loss_terms = self._make_loss_function()

    def _compact(self, region: ActiveRegion, validation: EvalResult) -> bool:
        """Shrink the model to its active region when that pays; True when it did."""
        config, model = self.spec.compaction, self.model
        fold = "lateral" in model.connections or "top_down" not in model.connections
        plan = plan_compaction(
            region.channel_active, np.concatenate(validation.step_probs), model.box,
            config.margin, config.min_fraction, config.step_mass, fold, config.step_quantile,
        )  # fmt: skip
        if plan is None:
            return False
        self._model_version += 1
        self.optimizer = compact_with_optimizer(model, self.optimizer, plan, self._make_optimizer)
        self._loss_terms = self._make_loss_function()
        return True

    def _checkpoint_contents(self) -> dict:
        """What ``checkpoint.pt`` holds: the model, optimiser and position now."""
        return {
            "spec": self._spec_text,
            "box": self.model.box.__dict__,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "checkpoints_written": self.checkpoints_written,
            "finished": self.iteration >= self.total_iterations,
            **self.clock.state(),
            "time_spent": dict(self.time_spent),
            "train_accuracy": self._last_train_accuracy,
            "run_id": self.identity.run_id if self.identity else "",
            "backbone_run_id": self.backbone_run_id,
        }

    def load_checkpoint(self) -> None:
        """Restore model, optimiser and position from ``checkpoint.pt``."""
        self._model_version += 1
        state = read_checkpoint(self.checkpoint_path, self.device)
        if self.identity is not None:
            self.identity.check_owns(self.checkpoint_path, "checkpoint", state.get("run_id"))
        box = Box(**state["box"])
        shrink_to(self.model, box)  # shapes first (compaction may have shrunk it) ...
        grow(self.model, box, self.spec.growth.new_step_mass)  # ... values below
        self.model.load_state_dict(state["model"])
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = state["iteration"]
        self.checkpoints_written = state["checkpoints_written"]
        self.clock.restore(state)
        self.backbone_run_id = state.get("backbone_run_id", "")
        self.time_spent.update(state.get("time_spent", {}))
        self._last_train_accuracy = state.get("train_accuracy", math.nan)
        self.losses.reset()  # sums of a discarded timeline must not reach the next checkpoint
        self._loss_terms = self._make_loss_function()
