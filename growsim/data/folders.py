"""Folders of image files (PNG, JPEG, ...): a training set, or stimuli to predict.

A folder dataset holds ``train/<class>/*`` and ``test/<class>/*``; files may sit in
subfolders of a class folder, and hidden files and folders are skipped. Images are decoded
with Pillow, converted to grey or RGB, resized to a square of ``image_size`` and cached (see
``growsim.data.array_cache``). A test image's id is its path relative to ``test/``, e.g.
``cat/0042.png``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from growsim.data.array_cache import cached_arrays
from growsim.data.sources import SourceData
from growsim.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LAYOUT = "a folder dataset holds train/<class>/ and test/<class>/ folders of image files"


def read_folder_dataset(root: Path, channels: int, size: int, resize: str) -> SourceData:
    """All images of ``root/train`` and ``root/test``, classes named by their folders."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: folder not found (data.path); {LAYOUT}")
    train = class_folders(root / "train")
    test = class_folders(root / "test")
    missing = sorted(set(test) - set(train))
    if missing:
        raise DataError(
            f"{root / 'test'}: class folder(s) {', '.join(missing)} have no counterpart in "
            f"{root / 'train'} (its classes: {', '.join(sorted(train))}), so no model can "
            "learn them; add training images of those classes or remove the test folders"
        )
    class_names = tuple(sorted(train))
    labelled = {
        split: [
            (path, class_names.index(name)) for name in sorted(folders) for path in folders[name]
        ]
        for split, folders in (("train", train), ("test", test))
    }
    files = [path for split in ("train", "test") for path, _ in labelled[split]]
    images = decode_cached(root, files, channels, size, resize)
    count = len(labelled["train"])
    test_root = root / "test"
    return SourceData(
        images[:count], np.asarray([label for _, label in labelled["train"]], dtype=np.int64),
        images[count:], np.asarray([label for _, label in labelled["test"]], dtype=np.int64),
        np.asarray([path.relative_to(test_root).as_posix() for path, _ in labelled["test"]]),
        class_names, str(root),
    )  # fmt: skip


def class_folders(split: Path) -> dict[str, list[Path]]:
    """{class name: its image files, sorted} for every class folder in ``split``."""
    if not split.is_dir():
        raise DataError(f"{split}: folder not found; {LAYOUT}")
    folders = sorted(p for p in split.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(
            f"{split}: holds no class folders; {LAYOUT} (put each class's images into a "
            "folder named after the class)"
        )
    classes = {}
    for folder in folders:
        files = image_files(folder)
        if not files:
            raise DataError(
                f"{folder}: empty class folder (no {', '.join(IMAGE_SUFFIXES)} files); add "
                "images of this class or remove the folder"
            )
        classes[folder.name] = files
    return classes


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively, hidden ones skipped), sorted by path."""
    found = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found += [
            Path(directory, name) for name in names
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)
        ]  # fmt: skip
    return sorted(found)


def read_image_set(
    folder: Path, class_names: tuple[str, ...], channels: int, size: int, resize: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Images to predict: (uint8 images (n, C, size, size), ids, labels or None).

    Every image file below ``folder`` is read; its id is its path relative to ``folder``.
    When every image sits in a subfolder named after one of ``class_names``, the images
    are labelled by that folder; otherwise labels are None.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    files = image_files(folder)
    if not files:
        raise DataError(f"{folder}: holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    ids = [path.relative_to(folder).as_posix() for path in files]
    tops = [relative.split("/")[0] if "/" in relative else None for relative in ids]
    labels = None
    if all(top in class_names for top in tops):
        labels = np.asarray([class_names.index(top) for top in tops], dtype=np.int64)
    images = decode_cached(folder, files, channels, size, resize)
    return images, np.asarray(ids), labels


def decode_cached(
    root: Path, files: list[Path], channels: int, size: int, resize: str
) -> np.ndarray:
    """uint8 images (n, C, size, size) of ``files``, from the cache when they are unchanged."""
    settings = {"channels": channels, "size": size, "resize": resize}

    def decode() -> dict[str, np.ndarray]:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            # Pillow releases the GIL while it decodes and resizes, so threads overlap.
            decoded = list(pool.map(lambda p: decode_image(p, channels, size, resize), files))
        return {"images": np.stack(decoded)}

    return cached_arrays(root, files, settings, decode)["images"]


def decode_image(path: Path, channels: int, size: int, resize: str) -> np.ndarray:
    """One image file as uint8 (channels, size, size).

    ``resize``: ``square`` scales square images and refuses others (scaling them would
    distort them); ``crop`` takes the centre square first; ``stretch`` scales each side.
    """
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as opened:
            opened.draft(mode, (size, size))  # JPEG: decode at a reduced scale, >= size
            image = _sixteen_to_eight_bits(opened).convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(
            f"{path}: cannot read this image ({error}); replace the file or remove it"
        ) from None
    width, height = image.size
    if width != height:
        if resize == "square":
            raise DataError(
                f"{path}: is {width} x {height}, not square, so it cannot be resized to "
                f"{size} x {size} without distorting it. Crop the images to squares, or set "
                "data.resize: crop (take the centre square) or data.resize: stretch"
            )
        if resize == "crop":
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _sixteen_to_eight_bits(image: Image.Image) -> Image.Image:
    """16-bit grey images scaled to 8 bits (Pillow's convert would clip them at 255)."""
    if not (image.mode.startswith("I;16") or image.mode == "I"):
        return image
    wide = np.asarray(image, dtype=np.float64) / 257.0  # 65535 -> 255
    return Image.fromarray(np.clip(np.round(wide), 0, 255).astype(np.uint8))
