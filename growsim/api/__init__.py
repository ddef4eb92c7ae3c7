"""Stage 10, api: growsim from Python, the door a notebook or script uses.

``specs`` (``load_spec`` with overrides), ``runs`` (``run`` a spec, ``open_run`` a run
directory: its spec, trajectory, per-image results, summary and final model, which
``predict``s and gives the ``activations`` of images), ``sweeps`` (``sweep``: many runs and
their combined store). Every name here is also ``growsim.<name>``. The modules import the
heavy libraries (torch, xarray) only when a function is called, so ``import growsim`` is
quick.
"""

from growsim.api.runs import Run, open_run, run
from growsim.api.specs import load_spec
from growsim.api.sweeps import SweepResults, sweep

__all__ = ["Run", "SweepResults", "load_spec", "open_run", "run", "sweep"]
