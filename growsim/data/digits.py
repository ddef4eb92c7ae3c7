"""scikit-learn's handwritten digits (UCI optical digits: 1797 images of 8 x 8 pixels, 16 grey
levels, 10 classes), installed with scikit-learn (``pip install 'growsim[digits]'``): real
data that needs no download.

The images are enlarged to ``data.image_size`` (a multiple of 8) by repeating pixels, and split
once, the same way for every spec: a fixed permutation (DIGITS_SPLIT_SEED) puts DIGITS_TEST
images in the test set and the rest in training (the source has no split of its own).
"""

from __future__ import annotations

import numpy as np

from growsim.data.sources import SourceData
from growsim.errors import DataError

DIGITS_TEST = 397  # test images; the other 1400 train (validation comes out of those)
DIGITS_SPLIT_SEED = 0  # the fixed train/test split, independent of data.seed
DIGITS_SIDE = 8  # the source's pixels a side
DIGITS_INSTALL = "pip install scikit-learn (or pip install 'growsim[digits]')"


def read_digits(image_size: int) -> SourceData:
    """The digits at ``image_size`` x ``image_size`` (float32 in [0, 1]), split into train
    and test; test ids are the images' indices in scikit-learn's array."""
    if image_size % DIGITS_SIDE:
        raise DataError(
            f"digits: data.image_size must be a multiple of {DIGITS_SIDE}, got {image_size}"
        )
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(f"the digits dataset comes with scikit-learn: {DIGITS_INSTALL}") from None
    source = load_digits()
    scale = image_size // DIGITS_SIDE
    images = np.kron(source.images.astype("float32") / 16.0, np.ones((scale, scale), "float32"))
    labels = source.target.astype("int64")
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    test, train = np.sort(order[:DIGITS_TEST]), np.sort(order[DIGITS_TEST:])
    return SourceData(
        images[train, None], labels[train], images[test, None], labels[test], test,
        tuple(str(digit) for digit in range(10)), "digits (scikit-learn)",
    )  # fmt: skip
