"""Names, units and meanings of the per-image variables: the one place for them.

``per_image.zarr`` (a finished run's test images) and ``predictions.zarr`` (``growsim
predict`` on new images) hold the same quantities under the same names, with these attrs;
the trajectory's own variables are in growsim.record.trajectory (``SCHEMA``). Units follow
the CF conventions: ``"1"`` for every dimensionless quantity (probabilities, fractions and
counts such as time steps; ``long_name`` says what is counted), and no units on class
indices, flags and labels. A name means one thing in every store: ``confidence`` is the
probability of the class the model predicts, ``true_class_probability`` that of the true
class.
"""

from __future__ import annotations

import xarray as xr

CONVENTIONS = "CF-1.11"  # the ``Conventions`` attribute of every store growsim writes

# name: (units, long_name); "" for no units
VARIABLES: dict[str, tuple[str, str]] = {
    "label": ("", "true class index"),
    "predicted": ("", "predicted class index"),
    "correct": ("", "prediction is right"),
    "confidence": ("1", "model probability of the class it predicts"),
    "true_class_probability": ("1", "model probability of the true class"),
    "expected_steps": ("1", "expected number of time steps sum_t t p_t (time used)"),
    "steps_computed": ("1", "time steps computed with early exit at exit_threshold"),
    "step_probs": ("1", "time distribution p_t: probability of answering after step t"),
    "reference_true_class_probability": (
        "1", "reference classifier (logistic regression on pixels) probability of the true class",
    ),
    "exit_accuracy": ("1", "test accuracy with early exit at the threshold"),
    "exit_steps": ("1", "mean time steps computed with early exit at the threshold"),
    # coordinates
    "occlusion": ("1", "fraction of the image covered by occluders"),
    "image": ("", "image index in the store"),
    "step": ("", "recurrent time step index (0 is the first)"),
    "class_name": ("", "class name of each class index"),
    "exit_threshold": ("1", "halting mass left when an input stops"),
}  # fmt: skip

# Names per_image.zarr used before: old name -> name now.
RENAMED = {
    "confidence": "true_class_probability",  # it held P(true class); confidence is P(predicted)
    "reference_confidence": "reference_true_class_probability",
}


def attrs(name: str, long_name: str | None = None) -> dict[str, str]:
    """The attrs of variable ``name`` (``long_name`` overrides its meaning where a store
    says more, e.g. where its image ids come from)."""
    units, meaning = VARIABLES[name]
    found = {"units": units} if units else {}
    return {**found, "long_name": long_name or meaning}


def with_current_names(per_image: xr.Dataset) -> xr.Dataset:
    """A ``per_image.zarr`` as read, with the variables an older growsim wrote under other
    names renamed to today's (a store that names both is left as it is)."""
    old = {o: n for o, n in RENAMED.items() if o in per_image and n not in per_image}
    return per_image.rename(old) if old else per_image


def open_per_image(path, verify: bool = True, **open_options) -> xr.Dataset:
    """Open a ``per_image.zarr`` (``xr.open_zarr`` with ``open_options``) under today's
    variable names; ``verify``: check every chunk first (growsim.integrity.verify_store, a
    RunError naming the store when it is corrupt)."""
    if verify:
        from growsim.integrity import verify_store

        verify_store(
            path,
            "the run's per-image results",
            "they cannot be read; run it again with --overwrite",
        )
    return with_current_names(xr.open_zarr(path, **open_options))
