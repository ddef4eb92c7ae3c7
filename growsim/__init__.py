"""growsim: a declarative simulator of neural-network growth in breadth, depth and time."""

__version__ = "0.1.0"
