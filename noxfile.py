"""Compatibility sessions: the harness against the pytest-asyncio and SQLAlchemy versions users run.

`nox -s compat` runs the whole matrix; CI runs it on every change. `nox -s old_pins` runs the harness
with the oldest pytest and pytest-cov its ranges allow.
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
