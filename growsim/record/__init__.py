"""Stage 5, record: what a run writes for analysis.

``recorder`` (receives each checkpoint from the trainer; a fan-out to several),
``tensorboard`` (an optional recorder of TensorBoard scalars), ``checkpoint_values`` (lays a
checkpoint out on the trajectory's coordinates), ``trajectory`` (the zarr store and its
schema), ``per_image`` and ``reference`` (per-image results of the trained model),
``variables`` (names, units and meanings of the per-image variables), and ``combine`` (one
store for a sweep).
"""
