"""Compatibility sessions: the harness against the pytest-asyncio and SQLAlchemy versions users run.

`nox -s compat` runs the whole matrix; CI runs it on every change.
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
