"""The specs that ship with growsim: the examples (``quick.yaml``, ``occlusion.yaml``, ...),
the reproduction's base (``reproduce/base.yaml``) and the JSON Schema (``spec.schema.json``).

They are package data (``growsim/specs/``), read through ``importlib.resources``, so an
installed growsim finds them wherever it is installed; in a checkout, ``specs/`` at the
repository's root is a link to the same folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from growsim.errors import SpecError


def shipped_specs() -> Path:
    """The folder of the specs shipped with growsim."""
    folder = files("growsim").joinpath("specs")
    if not isinstance(folder, Path):  # a zipped install: growsim is never installed that way
        raise SpecError(
            f"growsim's shipped specs are not in a folder ({folder}); install growsim unzipped"
        )
    return folder


def shipped_spec(name: str) -> Path:
    """The path of the shipped spec ``name`` (e.g. ``"quick.yaml"``, ``"reproduce/base.yaml"``);
    a SpecError listing them when there is none of that name."""
    path = shipped_specs().joinpath(*name.split("/"))
    if not path.is_file():
        known = sorted(str(p.relative_to(shipped_specs())) for p in shipped_specs().rglob("*.yaml"))
        raise SpecError(f"growsim ships no spec {name!r}; it ships {', '.join(known)}")
    return path
