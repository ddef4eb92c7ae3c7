"""Command line: ``growsim run|sweep|reproduce|report|validate|schema|topology|predict``.

Errors a user can cause print one paragraph and exit 2 (``--debug``: the traceback). Each
subcommand's parser is built by its own small function; the heavy modules (torch) are
imported only after the spec has been validated, so a typo is rejected at once. What a
command makes is printed on stdout; notes on the way (the ``growsim`` logger's) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

from growsim._version import __version__
from growsim.cli.inspection import add_predict, add_report, add_schema, add_topology, add_validate
from growsim.cli.parsing import HelpFormatter
from growsim.cli.reproduction import add_reproduce
from growsim.cli.signals import discard_stdout
from growsim.cli.training import add_run, add_sweep
from growsim.errors import GrowsimError
from growsim.stopping import Terminated, sigterm_raises

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports it
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: the reader of our output went away

EXAMPLES = """examples:
  growsim validate specs/quick.yaml --show        # the resolved spec, every default filled in
  growsim schema                                  # JSON Schema of a spec, for editors
  growsim run specs/quick.yaml                    # train; writes outputs/quick/
  growsim run specs/quick.yaml --resume           # continue an interrupted run
  growsim report outputs/quick                    # figures and report.md
  growsim sweep specs/tradeoff.yaml               # every member of a sweep: block
  growsim topology outputs/quick                  # the grown graph's topology
  growsim predict outputs/quick stimuli/          # the model's time on new images

'growsim COMMAND --help' shows each command's options."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``growsim`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USER_ERROR
    with sigterm_raises(), notes_to_stderr(logging.DEBUG if args.debug else logging.INFO):
        try:
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return code
        except GrowsimError as error:
            if args.debug:
                raise
            print(f"growsim: error: {error}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print(f"growsim: interrupted{args.after_interrupt}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Terminated:
            print(f"growsim: terminated (SIGTERM){args.after_interrupt}", file=sys.stderr)
            return EXIT_TERMINATED
        except BrokenPipeError:  # e.g. `growsim topology RUN | head`
            discard_stdout()
            return EXIT_BROKEN_PIPE


@contextmanager
def notes_to_stderr(level: int) -> Iterator[None]:
    """While the command runs, the ``growsim`` logger's notes of ``level`` and above are
    printed on stderr (this process's own; a library user configures logging as they like)."""
    logger = logging.getLogger("growsim")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("growsim: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def build_parser() -> argparse.ArgumentParser:
    """The ``growsim`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="growsim",
        description="Simulate neural-network growth in breadth, depth and time.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"growsim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.set_defaults(after_interrupt="")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (add_run, add_sweep, add_reproduce, add_report, add_validate, add_schema, add_topology,
                        add_predict):  # fmt: skip
        add_command(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
