"""growsim: a declarative simulator of neural-network growth in breadth, depth and time.

From Python (see growsim.api)::

    import growsim

    spec = growsim.load_spec("specs/quick.yaml", training__iterations=300)
    run = growsim.run(spec, out="outputs")            # or growsim.open_run("outputs/quick")
    run.trajectory, run.per_image, run.summary, run.model
    run.predict(images), run.activations(images)
    results = growsim.sweep("specs/tradeoff.yaml", workers=2)

The command line is ``growsim`` (or ``python -m growsim``).
"""

from growsim.threads import prefer_passive_waiting

prefer_passive_waiting()  # before torch loads OpenMP: see growsim.threads

# The sweep stage's package is loaded before the function ``sweep`` takes its name here:
# importing a package's submodule later (growsim.sweep.runner) then leaves growsim.sweep
# the function, as it would not if the package were first loaded after this line.
from growsim import sweep as _sweep_stage  # noqa: E402  (light: a docstring)
from growsim._version import __version__  # noqa: E402
from growsim.api import Run, SweepResults, load_spec, open_run, run, sweep  # noqa: E402

del _sweep_stage

__all__ = ["Run", "SweepResults", "__version__", "load_spec", "open_run", "run", "sweep"]
