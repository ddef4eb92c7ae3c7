"""What a finished run's model computes inside, as named arrays: the activation of every
unit (layer, channel, position) at every time step, for each image.

For representational similarity analysis and other comparisons with brain data: a layer at
a step is one "area at a moment", and ``channel`` keeps the lattice identity the trajectory
uses, so a unit can be followed across runs' records.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from growsim.record.per_image import image_ids
from growsim.runs.predict import FinishedRun, Stimuli, model_inputs


@torch.no_grad()
def stimulus_activations(
    run: FinishedRun, stimuli: Stimuli, occlusion: float = 0.0, seed: int = 0, batch_size: int = 256
) -> xr.DataArray:
    """The activation a = silu(h) of every unit at every step for every stimulus: dims
    (image, layer, channel, step, y, x), the images occluded at ``occlusion`` (occluders
    drawn with ``seed``) and normalised as the run's training images were."""
    if not 0.0 <= occlusion < 1.0:
        raise ValueError(f"occlusion must lie in [0, 1), got {occlusion:g}")
    model = run.model
    inputs = model_inputs(run, stimuli.images, occlusion, torch.Generator().manual_seed(seed))
    values = torch.cat(
        [
            model.activations(inputs[start : start + batch_size]).cpu()
            for start in range(0, len(inputs), batch_size)
        ]
    ).numpy()  # (image, layer, channel, step, y, x)
    box = model.box
    coords = {
        "image": ("image", np.arange(len(values)), {"long_name": "image index"}),
        "image_id": ("image", image_ids(stimuli.ids), {"long_name": "the image's id"}),
        "layer": ("layer", np.arange(box.layers), {"long_name": "lattice layer index (0 reads the image)"}),
        "channel": ("channel", model.channel_ids.cpu().numpy(), {"long_name": "lattice channel identity (as in the trajectory)"}),
        "step": ("step", np.arange(box.steps), {"long_name": "recurrent time step index (0 is the first)"}),
        "y": ("y", np.arange(values.shape[4]), {"long_name": "row of the feature map"}),
        "x": ("x", np.arange(values.shape[5]), {"long_name": "column of the feature map"}),
    }  # fmt: skip
    if stimuli.labels is not None:
        coords["label"] = (
            "image",
            stimuli.labels.astype("int32"),
            {"long_name": "true class index"},
        )
    return xr.DataArray(
        values, dims=("image", "layer", "channel", "step", "y", "x"), coords=coords, name="activation",
        attrs={
            "long_name": "activation a = silu(h) of the unit",
            "units": "1",
            "occlusion": float(occlusion),
            "run": str(run.run_dir),
            "iteration": run.iteration,
        },
    )  # fmt: skip
