"""Stage 2, data: images and labels from a spec's data section.

``datasets`` picks the reader (``idx``, ``folders``, ``arrays``, or shapes drawn in memory),
``sources`` selects classes and subsets, ``array_cache`` keeps decoded folders on disk, and
``datasets.occlude`` covers images with occluders. Imports only from ``growsim.spec``.
"""

from growsim.data.datasets import (
    FASHION_MNIST_CLASSES,
    SHAPE_CLASSES,
    Dataset,
    draw_shapes,
    load_dataset,
    occlude,
)

__all__ = [
    "FASHION_MNIST_CLASSES", "SHAPE_CLASSES", "Dataset", "draw_shapes", "load_dataset", "occlude",
]  # fmt: skip
