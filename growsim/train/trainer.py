"""The training loop: task loss + scheduled resource costs, growth checks, checkpoints.

All randomness after initialisation (batch order, occluders, growth init) comes from
generators seeded by (seed, purpose, iteration), so a run resumed from a checkpoint draws
exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from growsim.data.datasets import Dataset, load_dataset, occlude
from growsim.errors import RunError
from growsim.faults import crash_point
from growsim.model import costs, memory
from growsim.model.compaction import compact, compact_tensor, plan_compaction, shrink_to
from growsim.model.growth import active_region, grown_box
from growsim.model.lattice import Box, LatticeNetwork, Prediction
from growsim.model.objective import loss_terms
from growsim.model.proximal import adam_second_moments, apply_pressure
from growsim.record.checkpoint_values import structure_values, topology_values
from growsim.record.trajectory import (
    TrajectoryLayout,
    TrajectoryWriter,
    open_trajectory,
    trajectory_attrs,
)
from growsim.spec.loading import Spec, spec_to_yaml
from growsim.train.schedules import learning_rate_factor, schedule_factor

CHECKPOINT_FORMAT = 5  # 2: channel_ids, compaction; 3: halting_gain, validation split; 4: readout grid;
# 5: validation metrics per level in the trajectory, test sets at record.test_every


@dataclass
class EvalResult:
    """Metrics of one evaluation split (validation or test) at one checkpoint."""

    accuracy_by_level: np.ndarray  # (occlusion,)
    expected_steps_by_level: np.ndarray  # (occlusion,)
    time_distribution: np.ndarray  # (step,) mean p_t on clean images
    step_probs: list[np.ndarray]  # per level, (image, step): p_t of every input


@dataclass
class RunningMetrics:
    """Training metrics accumulated since the last checkpoint."""

    batches: int = 0
    task_loss: float = 0.0
    total_loss: float = 0.0
    time_cost: float = 0.0
    correct: int = 0
    seen: int = 0

    def mean(self, name: str) -> float:
        """Mean of a summed metric over the batches seen (NaN before any)."""
        return getattr(self, name) / self.batches if self.batches else math.nan


@dataclass
class Trainer:
    """Trains one spec in one run directory. Owns the model, optimiser and iteration."""

    spec: Spec
    run_dir: Path
    progress: bool = True
    on_checkpoint: Callable[["Trainer", dict], None] | None = None
    compile_backend: str | Callable = "inductor"  # torch.compile's backend (tests count graphs)
    device: torch.device = field(init=False)
    dataset: Dataset = field(init=False)
    model: LatticeNetwork = field(init=False)
    iteration: int = field(init=False, default=0)
    checkpoints_written: int = field(init=False, default=0)
    checkpoints_saved: int = field(init=False, default=0)  # by this process (crash points)
    # Wall time of training in earlier segments of a resumed run (up to their last checkpoint).
    earlier_seconds: float = field(init=False, default=0.0)
    _segment_started: float | None = field(init=False, default=None)
    # The test-set predictions of the model as it was at (iteration, model version, exit
    # threshold): the final checkpoint's pass is reused by per_image instead of being
    # computed again. Code that changes trainer.model's weights by hand must bump
    # _model_version (every change growsim makes does).
    _model_version: int = field(init=False, default=0)
    _test_predictions: tuple | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        spec = self.spec
        self.run_dir = Path(self.run_dir)
        self.device = resolve_device(spec.training.device)
        if spec.training.threads:
            torch.set_num_threads(spec.training.threads)
        self.dataset = load_dataset(spec.data, spec.data.seed)
        self.eval_levels = tuple(sorted({0.0, *spec.data.occlusion.levels}))
        self.max_box = Box(
            spec.lattice.layers.max, spec.lattice.channels.max, spec.lattice.steps.max
        )
        self._prepare_data()
        map_size = math.ceil(self.train_images.shape[-1] / spec.lattice.input_stride)
        needed = memory.training_bytes(spec, map_size, len(self.dataset.class_names))
        memory.check_fits(spec, needed, memory.available_bytes(self.device))
        generator = torch.Generator().manual_seed(spec.training.seed)
        self.model = LatticeNetwork(
            Box(
                spec.lattice.layers.initial,
                spec.lattice.channels.initial,
                spec.lattice.steps.initial,
            ),
            in_channels=self.train_images.shape[1],
            classes=len(self.dataset.class_names),
            kernel_size=spec.lattice.kernel_size,
            input_stride=spec.lattice.input_stride,
            connections=tuple(spec.lattice.connections),
            time_mode=spec.time_selection,
            generator=generator,
            readout_grid=spec.lattice.readout_grid,
        ).to(self.device)
        self.optimizer = self._make_optimizer()
        self.total_iterations = self._total_iterations()
        self.running = RunningMetrics()
        self.layout = TrajectoryLayout(self.max_box, self.eval_levels)
        self.writer = TrajectoryWriter(
            self.trajectory_path, self.layout, trajectory_attrs(spec, self.dataset)
        )
        self._step = self._make_step_function()

    # ------------------------------------------------------------------ paths

    @property
    def trajectory_path(self) -> Path:
        """Where the trajectory store lives."""
        return self.run_dir / "trajectory.zarr"

    @property
    def checkpoint_path(self) -> Path:
        """Where the latest model checkpoint lives."""
        return self.run_dir / "checkpoint.pt"

    # ------------------------------------------------------------------ setup

    def _prepare_data(self) -> None:
        data = self.dataset
        # The validation split: a fixed part of the training images (data.seed), never
        # trained on. Growth and compaction decide on it; the test set is only reported.
        count = len(data.train_labels)
        held_out = max(1, round(self.spec.data.validation_fraction * count))
        if held_out >= count:
            raise RunError(
                f"data.validation_fraction {self.spec.data.validation_fraction} leaves no "
                f"training images of {count}; lower it or raise data.train_size"
            )
        order = torch.randperm(count, generator=torch.Generator().manual_seed(self.spec.data.seed))
        train_index, validation_index = order[held_out:], order[:held_out]
        self.train_images = data.train_images[train_index].to(self.device)
        self.train_labels = data.train_labels[train_index].to(self.device)
        self.validation_labels = data.train_labels[validation_index].to(self.device)
        std = float(self.train_images.std()) or 1.0
        self.normalisation = (float(self.train_images.mean()), std)
        eval_size = self.spec.record.eval_size or len(data.test_labels)
        self.test_labels = data.test_labels[:eval_size].to(self.device)
        self.validation_sets = self._occluded_sets(data.train_images[validation_index], 7907)
        self.test_sets = self._occluded_sets(data.test_images[:eval_size], 7919)

    def _occluded_sets(self, images: torch.Tensor, salt: int) -> list[torch.Tensor]:
        """``images`` at every evaluation occlusion level, with fixed occluders per level
        (so every checkpoint is evaluated on the same images)."""
        generator = torch.Generator().manual_seed(self.spec.data.seed + salt)
        images = images.to(self.device)
        sets = []
        for level in self.eval_levels:
            levels = torch.full((len(images),), level)
            sets.append(occlude(images, levels, self.spec.data.occlusion, generator))
        return sets

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        mean, std = self.normalisation
        return (images - mean) / std

    def _total_iterations(self) -> int:
        training = self.spec.training
        if training.steps is not None:
            return training.steps
        per_epoch = math.ceil(len(self.train_labels) / training.batch_size)
        return max(1, round(training.epochs * per_epoch))

    def _make_optimizer(self) -> torch.optim.Optimizer:
        time_ids = {id(p) for p in self.model.time_parameters()}
        main = [p for p in self.model.parameters() if id(p) not in time_ids]
        groups = [
            {"params": main, "lr": self.spec.training.lr},
            {"params": self.model.time_parameters(), "lr": self.spec.training.time_lr},
        ]
        if self.spec.training.optimizer == "sgd":
            return torch.optim.SGD(groups, momentum=0.9)
        return torch.optim.Adam(groups)

    def _make_step_function(self):
        mode = self.spec.training.compile
        use_compile = mode == "on" or (mode == "auto" and self.device.type == "cuda")
        if not use_compile:
            return loss_terms
        # One graph per box: a box change (growth, compaction, loading) compiles anew, and
        # dropping the graphs of earlier boxes keeps a run that changes its box more often
        # than dynamo's recompile limit from falling back to eager for good.
        torch._dynamo.reset()
        return torch.compile(loss_terms, dynamic=False, backend=self.compile_backend)

    # ------------------------------------------------------------------ batches

    def _generator(self, purpose: int, index: int) -> torch.Generator:
        seed = (self.spec.training.seed * 1_000_003 + purpose * 7_919 + index) % (2**63)
        return torch.Generator().manual_seed(seed)

    def _batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.spec.training.batch_size
        count = len(self.train_labels)
        per_epoch = max(1, count // size) if count >= size else 1
        epoch, position = divmod(iteration, per_epoch)
        order = torch.randperm(count, generator=self._generator(1, epoch))
        index = order[position * size : (position + 1) * size].to(self.device)
        images, labels = self.train_images[index], self.train_labels[index]
        occlusion = self.spec.data.occlusion
        if occlusion.train and any(level > 0 for level in occlusion.levels):
            generator = self._generator(2, iteration)
            choice = torch.randint(len(occlusion.levels), (len(index),), generator=generator)
            levels = torch.tensor(occlusion.levels)[choice]
            images = occlude(images, levels, occlusion, generator)
        return self._normalise(images), labels

    # ------------------------------------------------------------------ training

    def cost_weights(self, iteration: int) -> dict[str, float]:
        """The scheduled weight of each cost at ``iteration``."""
        weights = {}
        for name in ("breadth", "depth", "time"):
            config = getattr(self.spec.costs, name)
            weights[name] = config.weight * schedule_factor(config.schedule, iteration)
        return weights

    def train_step(self, iteration: int) -> None:
        """One optimiser step on the batch of ``iteration``, then the breadth and depth
        pressure as a proximal step (see growsim.model.proximal)."""
        images, labels = self._batch(iteration)
        self._model_version += 1
        weights = self.cost_weights(iteration)
        self.model.train()
        self._set_learning_rates(iteration)
        time_weight = torch.tensor(weights["time"], dtype=images.dtype, device=self.device)
        total, task, time_, correct = self._step(
            self.model, images, labels, time_weight, self.spec.training.step_supervision,
            self.spec.training.time_entropy,
        )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if weights["breadth"] > 0 or weights["depth"] > 0:
            config, layers = self.spec.costs, self.model.incoming_weights()
            apply_pressure(
                layers, adam_second_moments(self.optimizer, layers), weights["breadth"], weights["depth"],
                self._pressure_learning_rate(), self.max_box.channels, self.max_box.layers,
                config.breadth.exponent, config.depth.exponent,
            )  # fmt: skip
        values = torch.stack([total.detach(), task.detach(), time_.detach()]).tolist()
        if not all(math.isfinite(v) for v in values):
            names = ("total loss", "task loss", "time cost")
            bad = [n for n, v in zip(names, values) if not math.isfinite(v)]
            raise RunError(
                f"numerical fault at iteration {iteration + 1}: {', '.join(bad)} became "
                f"non-finite ({values}). The trajectory holds every checkpoint up to the last "
                f"good one ({self.checkpoints_written}). Lower training.lr or the cost weights."
            )
        running = self.running
        running.batches += 1
        running.total_loss += values[0]
        running.task_loss += values[1]
        running.time_cost += values[2]
        running.correct += int(correct)
        running.seen += len(labels)

    def _set_learning_rates(self, iteration: int) -> None:
        """Scale both parameter groups' learning rates by the schedule at ``iteration``."""
        training = self.spec.training
        factor = learning_rate_factor(training.lr_schedule, iteration, self.total_iterations)
        for group, base in zip(self.optimizer.param_groups, (training.lr, training.time_lr)):
            group["lr"] = base * factor

    def _pressure_learning_rate(self) -> float:
        """The step size of the proximal pressure: ``lr``, and for SGD with momentum the
        step a steady gradient settles at, lr / (1 - momentum)."""
        group = self.optimizer.param_groups[0]
        if isinstance(self.optimizer, torch.optim.SGD):
            return group["lr"] / (1.0 - group["momentum"])
        return group["lr"]

    def run(self) -> dict:
        """Train to the end, writing checkpoints; returns the final summary."""
        from tqdm.auto import tqdm

        self._segment_started = time.perf_counter()
        if self.iteration == 0 and self.checkpoints_written == 0:
            self.checkpoint(grow=False)
        every = self.spec.record.every
        bar = tqdm(
            total=self.total_iterations,
            initial=self.iteration,
            disable=not self.progress,
            desc=self.spec.name,
            unit="it",
            dynamic_ncols=True,
        )
        summary: dict = {}
        with bar:
            while self.iteration < self.total_iterations:
                self.train_step(self.iteration)
                self.iteration += 1
                bar.update(1)
                last = self.iteration == self.total_iterations
                if self.iteration % every == 0 or last:
                    # The final model is the trained one: no growth or compaction after it.
                    grow = not last and self._costs_at_full_weight()
                    summary = self.checkpoint(grow=grow, final=last)
                    bar.set_postfix_str(_progress_text(summary))
        if not summary:
            summary = self.final_summary()
        summary["seconds"] = self.wall_seconds()
        return summary

    def _costs_at_full_weight(self) -> bool:
        """True once every cost's schedule has reached its full weight (or growth does not
        wait for them): the box grows only under the pressures it will be trained with."""
        if not self.spec.growth.wait_for_costs:
            return True
        costs = [getattr(self.spec.costs, name) for name in ("breadth", "depth", "time")]
        return all(
            schedule_factor(cost.schedule, self.iteration - 1) >= 1.0
            for cost in costs
            if cost.weight > 0
        )

    def wall_seconds(self) -> float:
        """Wall time of training so far, summed over the segments of a resumed run."""
        running = time.perf_counter() - self._segment_started if self._segment_started else 0.0
        return self.earlier_seconds + running

    # ------------------------------------------------------------------ checkpoints

    @torch.no_grad()
    def predict_test_sets(self) -> list[Prediction]:
        """The model's predictions on the fixed test set of every occlusion level, in order
        (computed once per model state)."""
        key = (self.iteration, self._model_version, self.spec.record.exit_threshold)
        if self._test_predictions is None or self._test_predictions[0] != key:
            predictions = self._predict_sets(self.test_sets, self.spec.record.exit_threshold)
            self._test_predictions = (key, predictions)
        return self._test_predictions[1]

    @torch.no_grad()
    def _predict_sets(self, sets: list[torch.Tensor], exit_threshold: float) -> list[Prediction]:
        self.model.eval()
        predictions = []
        for images in sets:
            batches = [
                self.model.predict(self._normalise(images[start : start + 500]),
                                   exit_threshold)
                for start in range(0, len(images), 500)
            ]  # fmt: skip
            predictions.append(Prediction(
                *(torch.cat([getattr(b, name) for b in batches])
                  for name in ("class_probs", "step_probs", "steps_computed"))
            ))  # fmt: skip
        return predictions

    def evaluate(self, split: str = "test") -> EvalResult:
        """Accuracy and expected steps on the fixed ``test`` or ``validation`` sets of every
        occlusion level."""
        if split == "test":
            predictions, labels = self.predict_test_sets(), self.test_labels
        else:
            # Every step computed: growth and compaction decide on the exact distribution
            # (early exit would fold later steps' probability into the exit step).
            predictions, labels = self._predict_sets(self.validation_sets, 0.0), self.validation_labels
        accuracy = [
            float((p.class_probs.argmax(dim=1) == labels).float().mean()) for p in predictions
        ]
        steps = [float(p.expected_steps.mean()) for p in predictions]
        step_probs = [p.step_probs.cpu().numpy() for p in predictions]
        return EvalResult(np.asarray(accuracy), np.asarray(steps), step_probs[0].mean(axis=0), step_probs)

    def checkpoint(self, grow: bool, final: bool = False) -> dict:
        """Grow if the active region reaches the box edge, evaluate, record, save.

        The test sets are evaluated at the ``final`` checkpoint and at every
        ``record.test_every``-th one; in between, the test metrics are recorded as NaN."""
        model = self.model
        old_box = model.box
        magnitudes, validation, region = self._measure()
        if grow:  # decided on the validation split only
            new_box = grown_box(
                old_box, region, self.spec.growth, self.max_box, self.spec.active.time_threshold
            )
            if new_box != old_box:
                self._grow(new_box)
                magnitudes, validation, region = self._measure()
            elif self.spec.compaction.enabled:
                if self._compact(region, validation):
                    magnitudes, validation, region = self._measure()
        every = self.spec.record.test_every
        due = final or (every > 0 and self.checkpoints_written % every == 0)
        # reported, never decided on
        evaluation = self.evaluate("test") if due else self._not_evaluated()
        values = self._checkpoint_values(old_box, magnitudes, region, validation, evaluation)
        self.writer.append(self.iteration, values)
        self.checkpoints_written += 1
        self.save_checkpoint()
        self.running = RunningMetrics()
        summary = self._summary(region, validation, evaluation, float(values["train_accuracy"]))
        if self.on_checkpoint:
            self.on_checkpoint(self, summary)
        return summary

    def _not_evaluated(self) -> EvalResult:
        """The test metrics of a checkpoint where the test sets are not evaluated: NaN."""
        blank = np.full(len(self.eval_levels), np.nan)
        return EvalResult(blank, blank, np.full(self.model.box.steps, np.nan), [])

    def _summary(
        self, region, validation: EvalResult, evaluation: EvalResult, train_accuracy: float
    ) -> dict:
        """What a checkpoint tells the progress bar and the run's caller (test metrics NaN
        where the test sets were not evaluated)."""
        return {
            "iteration": self.iteration,
            "box": self.model.box,
            "width": region.width.tolist(),
            "depth": region.depth,
            "expected_steps": float(evaluation.expected_steps_by_level[0]),
            "test_accuracy": float(evaluation.accuracy_by_level[0]),
            "train_accuracy": train_accuracy,
            "validation_accuracy": float(validation.accuracy_by_level[0]),
            "validation_expected_steps": float(validation.expected_steps_by_level[0]),
            "accuracy_by_occlusion": dict(
                zip(self.eval_levels, evaluation.accuracy_by_level.tolist())
            ),
            "steps_by_occlusion": dict(
                zip(self.eval_levels, evaluation.expected_steps_by_level.tolist())
            ),
        }

    def final_summary(self) -> dict:
        """The summary of the model as it is now (for a run that had nothing left to train)."""
        _, validation, region = self._measure()
        evaluation = self.evaluate("test")
        with open_trajectory(self.trajectory_path) as trajectory:
            train_accuracy = float(trajectory.train_accuracy.values[-1])
        return self._summary(region, validation, evaluation, train_accuracy)

    def _measure(self):
        """Channel magnitudes, validation-set evaluation and active region of the model."""
        magnitudes = costs.channel_magnitudes(self.model.incoming_weights()).detach().cpu().numpy()
        if not np.isfinite(magnitudes).all():
            layer = int(np.argwhere(~np.isfinite(magnitudes))[0][0])
            raise RunError(
                f"numerical fault at iteration {self.iteration}: the weights into layer {layer} "
                f"became non-finite. The trajectory holds every checkpoint up to the last good "
                f"one ({self.checkpoints_written}). Lower training.lr or the cost weights."
            )
        validation = self.evaluate("validation")
        region = active_region(
            magnitudes, validation.time_distribution, self.spec.active.channel_threshold
        )
        return magnitudes, validation, region

    def _grow(self, box: Box) -> None:
        """Grow the model and carry the optimiser state over to the grown parameters."""
        generator = self._generator(3, self.iteration)
        old_steps = self.model.box.steps

        def carry(name, key, value, param):
            grown = _pad_like(key, value, param)
            if name in ("halting_bias", "halting_gain") and param.shape[0] > old_steps:
                # The old last step's halting terms never had a gradient while it was last:
                # start their Adam state like the other steps' (not at zero).
                grown = _restart_entry(key, grown, old_steps - 1)
            return grown

        self._reshape_model(
            lambda: self.model.grow(box, self.spec.growth.new_step_mass, generator), carry
        )

    def _reshape_model(self, change: Callable[[], None], carry) -> None:
        """Apply ``change`` to the model's shapes, then rebuild the optimiser, keeping each
        surviving parameter's state as ``carry(name, state_key, state_value, new_parameter)``."""
        self._model_version += 1
        names_before = {id(p): n for n, p in self.model.named_parameters()}
        state_by_name = {
            names_before[id(p)]: s for p, s in self.optimizer.state.items() if id(p) in names_before
        }
        change()
        self.optimizer = self._make_optimizer()
        for name, param in self.model.named_parameters():
            if name in state_by_name:
                self.optimizer.state[param] = {
                    key: carry(name, key, value, param)
                    for key, value in state_by_name[name].items()
                }
        self._step = self._make_step_function()

    def _compact(self, region, validation: EvalResult) -> bool:
        """Shrink the model to its active region when that pays; True when it did."""
        config, model = self.spec.compaction, self.model
        fold = "lateral" in model.connections or "top_down" not in model.connections
        plan = plan_compaction(
            region.channel_active, np.concatenate(validation.step_probs), model.box,
            config.margin, config.min_fraction, config.step_mass, fold, config.step_quantile,
        )  # fmt: skip
        if plan is None:
            return False
        def carry(name, key, value, param):
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                return compact_tensor(name, value, plan)
            return value

        self._reshape_model(lambda: compact(model, plan), carry)
        return True

    def _checkpoint_values(
        self, old_box, magnitudes, region, validation: EvalResult, evaluation: EvalResult
    ) -> dict:
        running = self.running
        weights = self.cost_weights(max(self.iteration - 1, 0))
        values = structure_values(
            self.layout, self.model, old_box, magnitudes, region, evaluation.time_distribution
        )
        values.update(
            topology_values(self.layout, self.model, region, self.spec.active.edge_threshold)
        )
        magnitudes_t = torch.from_numpy(magnitudes)
        per_epoch = math.ceil(len(self.train_labels) / self.spec.training.batch_size)
        values.update(
            epoch=self.iteration / per_epoch,
            expected_steps=evaluation.expected_steps_by_level[0],
            breadth_cost=float(costs.breadth_cost(magnitudes_t, self.max_box.channels, self.spec.costs.breadth.exponent)),
            depth_cost=float(costs.depth_cost(magnitudes_t, self.max_box.layers, self.spec.costs.depth.exponent)),
            time_cost=running.mean("time_cost"),
            breadth_weight=weights["breadth"],
            depth_weight=weights["depth"],
            time_weight=weights["time"],
            task_loss=running.mean("task_loss"),
            total_loss=running.mean("total_loss"),
            train_accuracy=running.correct / running.seen if running.seen else math.nan,
            test_accuracy=evaluation.accuracy_by_level[0],
            accuracy_by_occlusion=evaluation.accuracy_by_level,
            expected_steps_by_occlusion=evaluation.expected_steps_by_level,
            validation_accuracy=validation.accuracy_by_level[0],
            validation_expected_steps=validation.expected_steps_by_level[0],
            validation_accuracy_by_occlusion=validation.accuracy_by_level,
            validation_expected_steps_by_occlusion=validation.expected_steps_by_level,
            validation_time_distribution=_pad(validation.time_distribution, self.max_box.steps),
        )  # fmt: skip
        return values

    def save_checkpoint(self) -> None:
        """Atomically write model, optimiser and position to ``checkpoint.pt``."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "spec": spec_to_yaml(self.spec),
            "box": self.model.box.__dict__,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "checkpoints_written": self.checkpoints_written,
            "finished": self.iteration >= self.total_iterations,
            "wall_seconds": self.wall_seconds(),
        }
        temporary = self.checkpoint_path.with_suffix(".pt.partial")
        try:
            torch.save(state, temporary)
            with open(temporary, "rb") as stream:
                os.fsync(stream.fileno())
            self.checkpoints_saved += 1
            crash_point("checkpoint-rename", self.checkpoints_saved)
            os.replace(temporary, self.checkpoint_path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise RunError(
                f"{self.checkpoint_path}: could not save the checkpoint at iteration "
                f"{self.iteration}: {error.strerror or error}. The previous checkpoint is intact; "
                "free disk space or fix permissions, then continue with --resume."
            ) from None

    def load_checkpoint(self) -> None:
        """Restore model, optimiser and position from ``checkpoint.pt``."""
        self._model_version += 1
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise RunError(
                f"{self.checkpoint_path}: checkpoint format {state.get('format')}, but this "
                f"growsim reads format {CHECKPOINT_FORMAT} (the run was written by another "
                "version). Start it again with --overwrite, or resume it with that version."
            )
        box = Box(**state["box"])
        shrink_to(self.model, box)  # shapes first (compaction may have shrunk it) ...
        self.model.grow(box, self.spec.growth.new_step_mass)  # ... values below
        self.model.load_state_dict(state["model"])
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = state["iteration"]
        self.checkpoints_written = state["checkpoints_written"]
        self.earlier_seconds = state.get("wall_seconds", 0.0)
        self._step = self._make_step_function()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError(
            "training.device: cuda was asked for but no CUDA GPU is visible; use auto or cpu"
        )
    return torch.device(name)


def _pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` followed by NaN up to ``size`` entries (positions outside the box)."""
    padded = np.full(size, np.nan, dtype="float64")
    padded[: len(values)] = values
    return padded


def _restart_entry(name: str, value, index: int):
    """Optimiser state with entry ``index`` restarted: zero momentum, and for Adam's second
    moment the mean of the entries before it."""
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return value
    value = value.clone()
    if name == "exp_avg_sq":
        value[index] = value[:index].mean() if index > 0 else 0.0
    else:
        value[index] = 0.0
    return value


def _pad_like(name: str, value, param: torch.Tensor):
    """Optimiser state for a grown parameter: the old values in the leading corner; new
    entries start with zero momentum and, for Adam's second moment, the mean of the old
    entries, so a new weight's first steps are scaled like its neighbours' (a zero second
    moment would make Adam's first step on it a full ``lr`` whatever its gradient)."""
    if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape == param.shape:
        return value
    fill = value.mean() if name == "exp_avg_sq" and value.numel() else 0.0
    grown = torch.full_like(param, float(fill))
    grown[tuple(slice(0, size) for size in value.shape)] = value
    return grown


def _progress_text(summary: dict) -> str:
    width = "/".join(str(w) for w in summary["width"])
    return (
        f"val acc {summary['validation_accuracy']:.3f} width {width} depth {summary['depth']} "
        f"steps {summary['validation_expected_steps']:.2f}"
    )
