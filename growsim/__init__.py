"""growsim: a declarative simulator of neural-network growth in breadth, depth and time."""

from growsim._version import __version__

__all__ = ["__version__"]
