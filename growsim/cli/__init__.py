"""The command line, on top of every stage: ``growsim run|sweep|report|validate|schema|topology|predict``.

``main`` (entry point, errors and exit codes), ``training`` (run, sweep), ``inspection``
(validate, schema, report, topology, predict), ``parsing`` (shared parser pieces),
``signals`` (SIGTERM and closed pipes).
"""

from growsim.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
