"""Stage 8, sweep: many runs of one spec over a grid of key values.

``spec`` (the ``sweep:`` block) and ``runner`` (members in parallel, combined into
``sweep.zarr``).
"""
