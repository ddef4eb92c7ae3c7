"""Stage 6, runs: one run in its directory, started, resumed or replaced safely.

``experiment`` (train a spec in a run directory and write its summary), ``directories``
(which directories growsim may write and delete), ``predict`` (a trained run on new images)
and ``activations`` (the activation of every unit at every step, as a named array).
"""
