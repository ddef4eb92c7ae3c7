"""nox sessions: tests (default suite), slow (end-to-end on real data), lint, benchmarks."""

import nox

nox.options.sessions = ["tests", "lint"]
INSTALL = ["torch==2.13.0", "-e", ".[test]"]


@nox.session(python="3.11")
def tests(session):
    """The default test suite (what CI runs)."""
    session.install(*INSTALL)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def slow(session):
    """End-to-end tests on real data (Fashion-MNIST from Debian's dataset-fashion-mnist)."""
    session.install(*INSTALL)
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)


@nox.session(python="3.11")
def lint(session):
    """ruff: style and likely bugs."""
    session.install("ruff")
    session.run("ruff", "check", "growsim", "tests", "benchmarks", "noxfile.py")


@nox.session(python="3.11")
def benchmarks(session):
    """The benchmark tables (ratios measured in one run)."""
    session.install(*INSTALL)
    session.run("python", "-m", "benchmarks", *session.posargs)
