"""MNIST-format (IDX) files: any directory holding the four train/test image and label files.

Fashion-MNIST is the named default (``data.dataset: fashion_mnist``); ``data.dataset: idx``
reads any other directory of such files (MNIST, KMNIST, EMNIST, your own), gzip-compressed
or not.
"""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np

from growsim.data.sources import SourceData
from growsim.errors import DataError

# The role of each file, and the file names that play it: ``train-images-idx3-ubyte.gz``,
# ``emnist-digits-test-images-idx3-ubyte``, ``train-images.idx3-ubyte`` ...
IDX_FILES = {
    ("train", "images"): re.compile(r"(^|[-_.])train[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$"),
    ("train", "labels"): re.compile(r"(^|[-_.])train[-_.]labels[-_.]idx1[-_.]ubyte(\.gz)?$"),
    ("test", "images"): re.compile(r"(^|[-_.])(t10k|test)[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$"),
    ("test", "labels"): re.compile(r"(^|[-_.])(t10k|test)[-_.]labels[-_.]idx1[-_.]ubyte(\.gz)?$"),
}


def read_idx_source(
    directory: Path, fix: str, class_names: tuple[str, ...] | None, image_size: int
) -> SourceData:
    """An IDX directory as SourceData; without names, classes are named by their labels
    ('0', '1', ...). Test ids are indices into the test file."""
    train_images, train_labels, test_images, test_labels = read_idx_dataset(directory, fix)
    height, width = train_images.shape[1:]
    if (height, width) != (image_size, image_size) or test_images.shape[1:] != (height, width):
        raise DataError(
            f"{directory}: the IDX images are {height} x {width} (test: "
            f"{test_images.shape[1]} x {test_images.shape[2]}) but data.image_size is "
            f"{image_size}; set data.image_size to {height} (IDX images are not resized)"
        )
    if class_names is None:
        top = max(int(train_labels.max(initial=0)), int(test_labels.max(initial=0)))
        class_names = tuple(str(label) for label in range(top + 1))
    return SourceData(
        train_images[:, None], train_labels.astype(np.int64),
        test_images[:, None], test_labels.astype(np.int64),
        np.arange(len(test_labels), dtype=np.int64), tuple(class_names), str(directory),
    )  # fmt: skip


def read_idx_dataset(
    directory: Path, fix: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_images, train_labels, test_images, test_labels) from an IDX directory.

    Images are uint8 (n, H, W); labels uint8 (n,). ``fix`` ends every error message: what
    the user can do about a missing or broken file (e.g. the install command).
    """
    files = find_idx_files(directory, fix)
    arrays = []
    for split in ("train", "test"):
        images = read_idx(files[split, "images"], expected_dims=3, fix=fix)
        labels = read_idx(files[split, "labels"], expected_dims=1, fix=fix)
        if len(images) != len(labels):
            raise DataError(
                f"{directory}: {split} has {len(images)} images but {len(labels)} labels; "
                f"the files do not belong together. {fix}"
            )
        arrays += [images, labels]
    return tuple(arrays)


def find_idx_files(directory: Path, fix: str) -> dict[tuple[str, str], Path]:
    """The file playing each role in ``directory`` (exactly one per role)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: directory not found. {fix}")
    names = sorted(p.name for p in directory.iterdir() if p.is_file())
    found = {}
    for (split, kind), pattern in IDX_FILES.items():
        matches = [name for name in names if pattern.search(name.lower())]
        expected = f"{'t10k' if split == 'test' else split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        if not matches:
            raise DataError(
                f"{directory / expected}: file not found (no {split} {kind} file in "
                f"{directory}; it holds {', '.join(names[:8]) or 'no files'}). {fix}"
            )
        if len(matches) > 1:
            raise DataError(
                f"{directory}: several files could be the {split} {kind} "
                f"({', '.join(matches)}); keep one of them in the folder"
            )
        found[split, kind] = directory / matches[0]
    return found


def read_idx(path: Path, expected_dims: int, fix: str = "") -> np.ndarray:
    """Read an IDX file (the MNIST format; gzip-compressed or not) into a uint8 array."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found. {fix}".rstrip())
    compressed = False
    try:
        with path.open("rb") as stream:  # a .gz name or gzip's magic bytes mean gzip
            compressed = path.suffix == ".gz" or stream.read(2) == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        what = "not a readable gzip file" if compressed else "cannot read the file"
        raise DataError(
            f"{path}: {what} ({error}); the download or copy is corrupt. {fix}"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(
            f"{path}: wrong IDX magic number (expected unsigned-byte IDX data); "
            f"this is not an MNIST-format file. {fix}"
        )
    dims = raw[3]
    if dims != expected_dims:
        raise DataError(f"{path}: IDX file has {dims} dimensions, expected {expected_dims}")
    header = 4 + 4 * dims
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX header promises {expected} values but the file holds "
            f"{len(raw) - header}; it is truncated. {fix}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
