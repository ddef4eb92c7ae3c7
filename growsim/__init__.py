"""growsim: a declarative simulator of neural-network growth in breadth, depth and time."""

from growsim.threads import prefer_passive_waiting

prefer_passive_waiting()  # before torch loads OpenMP: see growsim.threads

__version__ = "0.1.0"
