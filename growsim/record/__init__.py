"""Stage 5, record: what a run writes for analysis.

``recorder`` (receives each checkpoint from the trainer), ``checkpoint_values`` (lays a
checkpoint out on the trajectory's coordinates), ``trajectory`` (the zarr store and its
schema), ``per_image`` and ``reference`` (per-image results of the trained model), and
``combine`` (one store for a sweep).
"""
