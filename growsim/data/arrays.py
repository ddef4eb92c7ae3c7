"""Images as numpy arrays in an ``.npz`` file.

A training file holds ``train_images``, ``train_labels``, ``test_images``, ``test_labels``
and optionally ``test_ids`` (integers or strings, one per test image) and ``class_names``.
Images are (n, H, W) grey, or (n, H, W, C) / (n, C, H, W) with C = 1 or 3, either uint8 in
0..255 or float in [0, 1], of ``data.image_size`` square (arrays are not resized). Labels are
integers 0..classes-1. Strings must be stored as numpy strings (``np.array(ids, dtype=str)``),
not Python objects, because the file is read without pickle.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from growsim.data.sources import SourceData
from growsim.errors import DataError

REQUIRED = ("train_images", "train_labels", "test_images", "test_labels")


def read_array_dataset(path: Path, image_size: int) -> SourceData:
    """The training and test arrays of an ``.npz`` file, checked."""
    stored = read_npz(path)
    missing = [key for key in REQUIRED if key not in stored]
    if missing:
        raise DataError(
            f"{path}: missing array(s) {', '.join(missing)} (it holds "
            f"{', '.join(sorted(stored)) or 'none'}); an arrays dataset needs "
            f"{', '.join(REQUIRED)}, and may have test_ids and class_names"
        )
    train_images = check_images(path, "train_images", stored["train_images"], image_size)
    test_images = check_images(path, "test_images", stored["test_images"], image_size)
    train_labels = check_labels(path, "train_labels", stored["train_labels"], len(train_images))
    test_labels = check_labels(path, "test_labels", stored["test_labels"], len(test_images))
    ids = check_ids(path, "test_ids", stored.get("test_ids"), len(test_images))
    if "class_names" in stored:
        names = stored["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(
                f"{path}: class_names must be a 1-d array of strings, got {names.dtype} of "
                f"shape {names.shape}"
            )
        class_names = tuple(str(name) for name in names)
        if len(set(class_names)) != len(class_names):
            raise DataError(f"{path}: class_names lists a name twice")
    else:
        top = max(int(train_labels.max(initial=0)), int(test_labels.max(initial=0)))
        class_names = tuple(str(label) for label in range(top + 1))
        trained = int(train_labels.max(initial=0))  # test labels above it: check_classes says so
        empty = sorted(set(range(trained + 1)) - set(train_labels.tolist()))
        if empty:  # labels read as 0..top: a gap would make classes that nothing trains
            raise DataError(
                f"{path}: train_labels run from 0 to {trained}, but classes {', '.join(map(str, empty[:10]))}"
                f"{' ...' if len(empty) > 10 else ''} have no training image; number the classes "
                "0..K-1 without gaps, or give class_names"
            )
    return SourceData(
        train_images, train_labels, test_images, test_labels, ids, class_names, str(path)
    )


def read_image_arrays(
    path: Path, image_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Images to predict from an ``.npz``: (images, ids, labels or None).

    Keys ``images`` (or ``test_images``), optional ``labels`` (``test_labels``) and ``ids``
    (``test_ids``; default: the index of each image).
    """
    stored = read_npz(path)
    key = next((k for k in ("images", "test_images") if k in stored), None)
    if key is None:
        raise DataError(
            f"{path}: no array named images or test_images (it holds "
            f"{', '.join(sorted(stored)) or 'none'})"
        )
    images = check_images(path, key, stored[key], image_size)
    label_key = next((k for k in ("labels", "test_labels") if k in stored), None)
    labels = check_labels(path, label_key, stored[label_key], len(images)) if label_key else None
    id_key = next((k for k in ("ids", "test_ids") if k in stored), "ids")
    return images, check_ids(path, id_key, stored.get(id_key), len(images)), labels


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read without pickle."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (an .npz file of arrays)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array; save named arrays with np.savez")
    with archive:
        arrays = {}
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError:
                raise DataError(
                    f"{path}: array {name} holds Python objects; store strings as numpy "
                    "strings (np.array(values, dtype=str)) and numbers as numbers"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile) as error:
                raise DataError(f"{path}: array {name} is unreadable ({error})") from None
    return arrays


def check_images(path: Path, key: str, images: np.ndarray, image_size: int) -> np.ndarray:
    """(n, C, H, W) images from (n, H, W), (n, H, W, C) or (n, C, H, W); uint8 or float."""
    shape = images.shape
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)  # channels last -> first
    elif not (images.ndim == 4 and shape[1] in (1, 3)):
        raise DataError(
            f"{path}: {key} has shape {shape}; expected (n, H, W) grey images, or "
            "(n, H, W, C) or (n, C, H, W) with C = 1 or 3"
        )
    if images.shape[2:] != (image_size, image_size):
        raise DataError(
            f"{path}: {key} are {images.shape[2]} x {images.shape[3]} but data.image_size is "
            f"{image_size}; set data.image_size to their size (arrays are not resized) or "
            "resize them square"
        )
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind != "f":
        raise DataError(
            f"{path}: {key} has dtype {images.dtype}; expected uint8 (0..255) or float (0..1)"
        )
    if not np.isfinite(images).all():
        raise DataError(f"{path}: {key} holds NaN or infinite values")
    low, high = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if low < 0 or high > 1:
        raise DataError(
            f"{path}: {key} are floats from {low:g} to {high:g}; float images must lie in "
            "[0, 1] (divide 0..255 values by 255, or store them as uint8)"
        )
    return images.astype(np.float32)


def check_labels(path: Path, key: str, labels: np.ndarray, count: int) -> np.ndarray:
    """int64 labels, one per image, each >= 0."""
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"{path}: {key} must be a 1-d array of integers, got {labels.dtype} of shape "
            f"{labels.shape} (convert with labels.astype(int))"
        )
    if len(labels) != count:
        raise DataError(f"{path}: {key} has {len(labels)} labels for {count} images")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path}: {key} holds a negative label ({labels.min()})")
    return labels.astype(np.int64)


def check_ids(path: Path, key: str, ids: np.ndarray | None, count: int) -> np.ndarray:
    """One unique id (integer or string) per image; their index when there are none."""
    if ids is None:
        return np.arange(count, dtype=np.int64)
    if ids.ndim != 1 or ids.dtype.kind not in "iuUS":
        raise DataError(
            f"{path}: {key} must be a 1-d array of integers or strings, got {ids.dtype} of "
            f"shape {ids.shape}"
        )
    if len(ids) != count:
        raise DataError(f"{path}: {key} has {len(ids)} ids for {count} images")
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        repeated = values[counts > 1][0].item()
        raise DataError(f"{path}: {key} repeats id {repeated!r}; ids must be unique")
    return ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str)
