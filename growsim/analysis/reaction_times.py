"""Human reaction-time files, read into one reaction time per image and matched to images.

Two formats, told apart by the header (column names in any case; comma, tab or semicolon
separated):

- per image: columns ``image_id,rt`` (more allowed), one row per image;
- trial tables as model-vs-human has them: ``subj,session,trial,rt,object_response,
  category,condition,imagename``, one row per trial, aggregated per image (median RT of the
  correct trials by default; the mean, or all trials, if asked). A trial is correct when
  ``object_response`` equals ``category`` (or, if the table has one, ``correct`` is true).
  Trials without an RT (``NaN``, ``na`` or empty: no response) are skipped and counted.

An id matches an image when it equals the image's id (its index in the test file, or its
path relative to ``test/`` for folders), or when it is a bare file name and one image has
that file name. A key pattern (a regular expression) reduces both sides to what it captures
(its first group, or the whole match), e.g. to match model-vs-human's per-subject file names
``0052_cop_s01_c30_dog_10_n02097474_5234.png`` to one stimulus ``c30_dog_10_n02097474_5234``.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from growsim.errors import DataError

MISSING_RT = {"", "nan", "na", "n/a", "none", "null"}
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "t", "y"}, {"0", "false", "no", "f", "n"}


@dataclass(frozen=True)
class ReactionTimeOptions:
    """How a trial table becomes one RT per image, and how ids are matched."""

    trials: Literal["correct", "all"] = "correct"
    statistic: Literal["median", "mean"] = "median"
    key_pattern: str | None = None


@dataclass
class ReactionTimes:
    """One reaction time per image, and how they were read."""

    path: Path
    kind: Literal["per image", "trials"]
    names: list[str]  # the images as the file names them
    keys: list[str]  # what is matched against image ids
    rts: np.ndarray  # (image,)
    options: ReactionTimeOptions
    rows: int  # data rows in the file
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows

    def text(self) -> str:
        """One sentence on where the RTs came from."""
        if self.kind == "per image":
            return f"{self.path.name}: one reaction time per image, {len(self.rts)} images"
        used = self.rows - sum(self.skipped.values())
        skipped = ", ".join(f"{count} {reason}" for reason, count in self.skipped.items() if count)
        which = "correct trials" if self.options.trials == "correct" else "trials"
        return (
            f"{self.path.name}: a trial table of {self.rows} trials, {used} used"
            f"{f' ({skipped} left out)' if skipped else ''}; {self.options.statistic} RT of "
            f"the {which} per image: {len(self.rts)} images"
        )


@dataclass
class MatchedTimes:
    """Reaction times paired with a run's (or prediction's) images."""

    image_index: np.ndarray  # (matched,) index of each matched image in the image list
    rts: np.ndarray  # (matched,)
    source: ReactionTimes
    images: int  # images that could have matched
    file_matched: int  # the file's images (rows of a per-image file) that matched an image

    def text(self) -> str:
        """How many matched, for the report and the terminal."""
        return (
            f"{self.source.text()}; {self.file_matched} of those matched, giving "
            f"{len(self.rts)} of the {self.images} images analysed a reaction time"
        )


def image_key(value, pattern: str | None = None) -> str | None:
    """The matching key of an image id or name: the text (with '/' separators), an integer
    as its decimal digits ('007' -> '7'), reduced by ``pattern``; None if it does not match."""
    text = str(value).strip().replace("\\", "/")
    if pattern:
        found = re.search(pattern, text)
        if not found:
            return None
        text = found.group(1) if found.groups() else found.group(0)
    if re.fullmatch(r"\d+(\.0*)?", text):  # 7, 007, 7.0 (a spreadsheet's integer)
        text = str(int(float(text)))
    return text


def read_reaction_times(
    path: str | Path, options: ReactionTimeOptions | None = None
) -> ReactionTimes:
    """Read either format into one reaction time per image (see the module docstring)."""
    path, options = Path(path), options or ReactionTimeOptions()
    if options.key_pattern:
        try:
            re.compile(options.key_pattern)
        except re.error as error:
            raise DataError(
                f"--rt-key {options.key_pattern!r}: not a regular expression ({error})"
            ) from None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise DataError(f"{path}: cannot read the reaction-time file: {reason}") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(), dialect)
    header = [column.strip().lower() for column in next(reader, [])]
    if "imagename" in header and "rt" in header:
        return _read_trials(path, header, reader, options)
    if "image_id" in header and "rt" in header:
        return _read_per_image(path, header, reader, options)
    raise DataError(
        f"{path}:1: the header must name columns image_id and rt (one row per image) or "
        f"imagename and rt (a trial table), got {','.join(header) or 'nothing'}"
    )


def _data_rows(path, reader, column: dict[str, int], names) -> Iterator[tuple[int, list[str]]]:
    """(line number, the cells of ``names``) of every row of ``reader`` that is not blank."""
    for row in reader:
        if any(cell.strip() for cell in row):
            yield reader.line_num, _cells(path, reader.line_num, row, column, names)


def _read_per_image(path, header, reader, options) -> ReactionTimes:
    column = {name: header.index(name) for name in ("image_id", "rt")}
    names, keys, rts, lines = [], [], [], {}
    data_rows = list(_data_rows(path, reader, column, ("image_id", "rt")))
    rows = len(data_rows)
    for line, (name, rt_text) in data_rows:
        rt = _number(path, line, rt_text)
        if not math.isfinite(rt) or rt <= 0:
            raise DataError(
                f"{path}:{line}: rt must be a positive number, got {rt_text.strip()!r} "
                "(leave out images without a reaction time)"
            )
        key = _key(path, line, name, options)
        if key in lines:
            raise DataError(
                f"{path}:{line}: image_id {name.strip()} appears twice (first on line "
                f"{lines[key]}); give one reaction time per image, or a trial table with an "
                "imagename column to aggregate trials"
            )
        lines[key] = line
        names.append(name.strip())
        keys.append(key)
        rts.append(rt)
    if not rts:
        raise DataError(f"{path}: holds no reaction times")
    return ReactionTimes(path, "per image", names, keys, np.asarray(rts), options, rows)


def _read_trials(path, header, reader, options) -> ReactionTimes:
    needed = ["imagename", "rt"]
    if options.trials == "correct":
        if "correct" in header:
            needed.append("correct")
        elif "object_response" in header and "category" in header:
            needed += ["object_response", "category"]
        else:
            raise DataError(
                f"{path}:1: keeping the correct trials needs columns object_response and "
                "category (or correct); the file has "
                f"{','.join(header)}. Use all trials with --rt-trials all"
            )
    column = {name: header.index(name) for name in needed}
    trials: dict[str, list[float]] = {}
    first_name: dict[str, str] = {}
    skipped = {"incorrect": 0, "without an RT (no response)": 0, "not matching the key pattern": 0}
    data_rows = list(_data_rows(path, reader, column, needed))
    rows = len(data_rows)
    for line, values in data_rows:
        cells = dict(zip(needed, values))
        if cells["rt"].strip().lower() in MISSING_RT:
            skipped["without an RT (no response)"] += 1
            continue
        rt = _number(path, line, cells["rt"])
        if not math.isfinite(rt) or rt <= 0:
            raise DataError(
                f"{path}:{line}: rt must be a positive number, got {cells['rt'].strip()!r}"
            )
        if options.trials == "correct" and not _correct(path, line, cells):
            skipped["incorrect"] += 1
            continue
        key = image_key(cells["imagename"], options.key_pattern)
        if key is None:
            skipped["not matching the key pattern"] += 1
            continue
        trials.setdefault(key, []).append(rt)
        first_name.setdefault(key, cells["imagename"].strip())
    if not trials:
        raise DataError(
            f"{path}: no trial is left to give a reaction time: of {rows} trials, "
            + ", ".join(f"{count} {reason}" for reason, count in skipped.items() if count)
            + (" (use --rt-trials all to keep incorrect trials)" if skipped["incorrect"] else "")
        )
    aggregate = np.median if options.statistic == "median" else np.mean
    keys = list(trials)
    rts = np.asarray([float(aggregate(trials[key])) for key in keys])
    names = [first_name[key] for key in keys]
    return ReactionTimes(path, "trials", names, keys, rts, options, rows, skipped)


def _cells(path, line, row, column, names) -> list[str]:
    if len(row) <= max(column[name] for name in names):
        raise DataError(f"{path}:{line}: has {len(row)} cells, fewer than the header's columns")
    return [row[column[name]] for name in names]


def _number(path, line, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}:{line}: rt must be a number, got {text.strip()!r}") from None


def _key(path, line, name: str, options: ReactionTimeOptions) -> str:
    if not name.strip():
        raise DataError(f"{path}:{line}: image_id is empty")
    key = image_key(name, options.key_pattern)
    if key is None:
        raise DataError(
            f"{path}:{line}: image_id {name.strip()!r} does not match --rt-key {options.key_pattern!r}"
        )
    return key


def _correct(path, line, cells: dict[str, str]) -> bool:
    if "correct" in cells:
        word = cells["correct"].strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise DataError(
                f"{path}:{line}: correct must be true/false or 1/0, got {cells['correct']!r}"
            )
        return word in TRUE_WORDS
    return cells["object_response"].strip().lower() == cells["category"].strip().lower()


def match_reaction_times(image_ids, times: ReactionTimes) -> MatchedTimes:
    """Pair each reaction time with the images it names (see the module docstring)."""
    pattern = times.options.key_pattern
    by_key: dict[str, list[int]] = {}
    by_file_name: dict[str, list[int]] = {}
    ids = [str(i) for i in np.asarray(image_ids).tolist()]
    for index, image_id in enumerate(ids):
        key = image_key(image_id, pattern)
        if key is not None:
            by_key.setdefault(key, []).append(index)
            by_file_name.setdefault(key.rsplit("/", 1)[-1], []).append(index)
    matched_by: dict[int, str] = {}
    image_index, rts, file_matched = [], [], 0
    for name, key, rt in zip(times.names, times.keys, times.rts):
        indices = by_key.get(key)
        if indices is None and "/" not in key:
            indices = by_file_name.get(key)
            if indices and len({image_key(ids[i], pattern) for i in indices}) > 1:
                choices = ", ".join(ids[i] for i in indices[:4])
                raise DataError(
                    f"{times.path}: {name!r} could be any of {choices}; name the image by its "
                    "path (relative to test/ for folder data)"
                )
        file_matched += bool(indices)
        for index in indices or []:
            if index in matched_by:
                raise DataError(
                    f"{times.path}: image {ids[index]} is named twice ({matched_by[index]!r} "
                    f"and {name!r}); give it one reaction time"
                )
            matched_by[index] = name
            image_index.append(index)
            rts.append(rt)
    if not rts:
        file_examples = ", ".join(repr(n) for n in times.names[:3])
        run_examples = ", ".join(repr(i) for i in ids[:3])
        raise DataError(
            f"{times.path}: no image in the file matches an image here. The file names "
            f"images like {file_examples}; the images here are {run_examples}, ... Ids are "
            "indices into the test file (IDX data, arrays without test_ids), paths relative to "
            "test/ (folders), or a bare file name when it is unique"
            + (f"; --rt-key {pattern!r} reduces both to what it captures" if pattern else "")
        )
    order = np.argsort(image_index, kind="stable")
    return MatchedTimes(
        np.asarray(image_index)[order],
        np.asarray(rts, dtype=float)[order],
        times,
        len(ids),
        file_matched,
    )
