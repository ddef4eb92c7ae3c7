"""A dataset as its source holds it, and the choice of classes, sizes and channels from it.

Every reader of stored data (IDX files, image folders, arrays) returns a ``SourceData``;
``select`` then applies the spec's ``classes``, ``train_size``, ``test_size`` and
``channels`` the same way for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growsim.errors import DataError

# ITU-R 601-2 luma, the weights Pillow's convert("L") uses, so grey images made from RGB
# arrays match grey images made from RGB files.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class SourceData:
    """Images and labels as read, before any selection."""

    train_images: np.ndarray  # (n_train, C, H, W) uint8 in 0..255 or float32 in [0, 1]
    train_labels: np.ndarray  # (n_train,) int64 in [0, len(class_names))
    test_images: np.ndarray  # (n_test, C, H, W)
    test_labels: np.ndarray  # (n_test,)
    test_ids: np.ndarray  # (n_test,) int64 or str: what reaction-time files refer to
    class_names: tuple[str, ...]
    origin: str  # names the source in error messages

    def check_classes(self) -> None:
        """Refuse labels outside the class list and test classes that training never shows."""
        count = len(self.class_names)
        for split, labels in (("train", self.train_labels), ("test", self.test_labels)):
            if len(labels) and (labels.min() < 0 or labels.max() >= count):
                bad = labels[(labels < 0) | (labels >= count)][0]
                raise DataError(
                    f"{self.origin}: {split} label {bad} is outside the {count} classes "
                    f"({', '.join(self.class_names)}); labels must be 0..{count - 1}"
                )
        missing = sorted(set(self.test_labels.tolist()) - set(self.train_labels.tolist()))
        if missing:
            names = ", ".join(f"{self.class_names[k]!r} (label {k})" for k in missing)
            raise DataError(
                f"{self.origin}: the test set has class {names} but the training set has no "
                "image of it, so no model can learn it; add training images or remove those "
                "test images"
            )


def select(
    source: SourceData,
    classes: int | None,
    train_size: int | None,
    test_size: int | None,
    channels: int,
    rng: np.random.Generator,
) -> SourceData:
    """The first ``classes`` classes, random subsets of at most the given sizes (in source
    order), as float32 in [0, 1] with ``channels`` channels. None means all."""
    if classes is not None and classes > len(source.class_names):
        raise DataError(
            f"{source.origin}: data.classes is {classes} but the data has only "
            f"{len(source.class_names)} classes ({', '.join(source.class_names)}); lower "
            "data.classes or leave it out to use all"
        )
    classes = classes or len(source.class_names)
    train_keep = _subsample(source.train_labels, classes, train_size, rng)
    test_keep = _subsample(source.test_labels, classes, test_size, rng)
    return SourceData(
        to_channels(_as_float(source.train_images[train_keep]), channels),
        source.train_labels[train_keep],
        to_channels(_as_float(source.test_images[test_keep]), channels),
        source.test_labels[test_keep],
        source.test_ids[test_keep],
        tuple(source.class_names[:classes]),
        source.origin,
    )


def _subsample(
    labels: np.ndarray, classes: int, size: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Indices of at most ``size`` items whose label is below ``classes``, in order."""
    keep = np.flatnonzero(labels < classes)
    if size is not None and size < len(keep):
        keep = np.sort(rng.choice(keep, size=size, replace=False))
    return keep


def _as_float(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32, copy=False)


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(n, C, H, W) float images with ``channels`` channels: grey is repeated into RGB,
    RGB is turned into grey by luma."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=1)
    if have == 3 and channels == 1:
        return np.einsum("nchw,c->nhw", images, LUMA)[:, None].astype(np.float32)
    raise DataError(f"cannot convert images with {have} channels to {channels}")
