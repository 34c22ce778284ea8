"""Compatibility sessions: the harness against the pytest-asyncio and SQLAlchemy versions users run.

`nox -s compat` runs the whole matrix; CI runs it on every change. `nox -s old_pins` runs the harness
with the oldest pytest and pytest-cov its ranges allow.
`nox -s compat` runs the whole matrix; CI runs it on every change. `nox -s coverage_pythons` checks
that the example's coverage figures are the same on Python 3.9-3.13.
"""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True

PYTEST_ASYNCIO = ["0.23.8", "0.24.0", "0.26.0", "1.5.0"]
SQLALCHEMY = ["2.0.*", "2.1.*"]

COMPAT_TESTS = [
    "tests/integration/test_fixtures.py",
    "tests/integration/test_xdist_and_example.py",
    "tests/unit/test_mocks.py",
    "tests/unit/test_compat.py",
]


@nox.session(python="3.11")
@nox.parametrize("sqlalchemy", SQLALCHEMY, ids=["sa20", "sa21"])
@nox.parametrize("pytest_asyncio", PYTEST_ASYNCIO)
def compat(session: nox.Session, pytest_asyncio: str, sqlalchemy: str) -> None:
    session.install("-e", "harness[alembic,fastapi,xdist]", "-r", "requirements-dev.txt",
                    f"pytest-asyncio=={pytest_asyncio}", f"sqlalchemy[asyncio]=={sqlalchemy}")
    session.run("python", "-c", "import pytest, pytest_asyncio, sqlalchemy; print('pytest', pytest.__version__, "
                "'pytest-asyncio', pytest_asyncio.__version__, 'sqlalchemy', sqlalchemy.__version__)")
    session.run("python", "-m", "pytest", "-q", *COMPAT_TESTS, *session.posargs)


# The oldest pytest / pytest-cov the harness's ranges allow (harness/pyproject.toml), measured here: a
# project pinning them (pytest==7.1.2, pytest-cov==3.0.0 seen in the wild) installs beside the harness.
# pytest-asyncio 0.23 is the oldest the harness supports, and the newest that runs on pytest < 8.2.
OLD_PINS = [("7.0.1", "3.0.0"), ("7.1.2", "3.0.0")]
OLD_PIN_TESTS = [*COMPAT_TESTS[:1], "tests/unit/test_mocks.py", "tests/unit/test_compat.py"]
# What those tests import besides the harness (requirements-dev.txt's pytest plugins need a newer pytest).
OLD_PIN_DEPS = ["psycopg2-binary>=2.9", "pydantic>=2", "pyyaml>=6", "jsonschema>=4.18", "aiosqlite>=0.19", "anyio>=4"]


@nox.session(python="3.11")
@nox.parametrize("pins", OLD_PINS, ids=[f"pytest{p}-cov{c}" for p, c in OLD_PINS])
def old_pins(session: nox.Session, pins: tuple) -> None:
    pytest_version, cov_version = pins
    session.install("-e", "harness[alembic,fastapi,xdist]", *OLD_PIN_DEPS, f"pytest=={pytest_version}",
                    f"pytest-cov=={cov_version}", "pytest-asyncio==0.23.8")
    session.run("python", "-c", "import pytest, pytest_cov, coverage; print('pytest', pytest.__version__, "
                "'pytest-cov', pytest_cov.__version__, 'coverage', coverage.__version__)")
    session.run("python", "-m", "pytest", "-q", "-p", "no:randomly", *OLD_PIN_TESTS, *session.posargs)
# Python versions the example's coverage figures are compared on (issue 22 item 7): coverage.py lost the
# lines run after a greenlet switch (SQLAlchemy's async layer) on some versions and not others.
COVERAGE_PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
EXAMPLE = "examples/service/backend"


@nox.session(python="3.11")
def coverage_pythons(session: nox.Session) -> None:
    """`async-test run` on the example service with each Python of COVERAGE_PYTHONS as the tests'
    interpreter (`--python`): every figure (unit, integration, combined, per file and per line) must
    be the same. Each Python gets a virtualenv of its own with the example's requirements."""
    import json
    import shutil
    from pathlib import Path

    session.install("-e", "harness[embedded]")
    work = Path(session.create_tmp()).resolve() / "coverage-pythons"
    shutil.rmtree(work, ignore_errors=True)
    figures = {}
    for version in COVERAGE_PYTHONS:
        venv = work / f"venv-{version}"
        session.run("uv", "venv", "-q", "--python", _interpreter(version), str(venv), external=True)
        python = str(venv / "bin" / "python")
        session.run("uv", "pip", "install", "-q", "--python", python, "-e", "harness[embedded]",
                    "-r", f"{EXAMPLE}/requirements.txt", "pytest-asyncio", external=True)
        results = work / f"results-{version}"
        session.run("async-test", "run", EXAMPLE, "--python", python, "--results-dir", str(results))
        cov = json.loads((results / "summary.json").read_text())["coverage"]
        figures[version] = {"percent": {k: cov[k]["percent"] for k in ("unit", "integration", "combined")},
                            "files": cov["files"]}
        session.log(f"Python {version}: {figures[version]['percent']}")
    first = COVERAGE_PYTHONS[0]
    differ = [v for v in COVERAGE_PYTHONS if figures[v] != figures[first]]
    if differ:
        session.error(f"coverage differs from Python {first}'s on {', '.join(differ)}: "
                      + "; ".join(f"{v}: {figures[v]['percent']}" for v in [first, *differ]))


def _interpreter(version: str) -> str:
    """pyenv's 3.X (~/.pyenv/versions/3.X.*, which this machine and CI have; its shims on PATH are
    not interpreters uv can inspect), else uv's own discovery, which says what is missing."""
    from pathlib import Path

    for candidate in sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*"), reverse=True):
        if (candidate / "bin" / "python").exists():
            return str(candidate / "bin" / "python")
    return version
