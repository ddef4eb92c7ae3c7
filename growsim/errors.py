"""Error types a user can cause. The CLI prints them without a traceback."""


class GrowsimError(Exception):
    """Base class of every error caused by user input or the run's environment."""


class SpecError(GrowsimError):
    """A spec is malformed: the message names the file, line and key path."""


class DataError(GrowsimError):
    """Data files are missing or corrupt: the message names the file and the fix."""


class RunError(GrowsimError):
    """A run cannot start or continue (existing output, numerical fault, full disk)."""
