"""nox sessions: tests (default suite), slow (end-to-end on real data, the wheel, the docs
build), lint, docs, benchmarks."""

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
    """End-to-end tests on real data (Fashion-MNIST from Debian's dataset-fashion-mnist), the
    wheel install and the docs build."""
    session.install(*INSTALL, "-e", ".[docs]")
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)


@nox.session(python="3.11")
def lint(session):
    """ruff: style, likely bugs, and the formatting."""
    session.install("ruff")
    paths = ["growsim", "tests", "benchmarks", "noxfile.py", "docs"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python="3.11")
def docs(session):
    """The docs site (mkdocs-material), every warning an error; site/ holds it."""
    session.install("torch==2.13.0", "-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python="3.11")
def benchmarks(session):
    """The benchmark tables (ratios measured in one run)."""
    session.install(*INSTALL)
    session.run("python", "-m", "benchmarks", *session.posargs)
