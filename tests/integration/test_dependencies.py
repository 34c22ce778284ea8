"""The container's install step for real: uv, PyPI, a fresh venv per project kind.

Every test here needs the package index (PyPI, or UV_INDEX_URL): they are marked ``network``
(``-m network`` selects them, ``-m "not network"`` leaves them out). The harness is a wheel built
once per session from ./harness, as in the image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from async_test_harness.runner import dependencies
from async_test_harness.runner.dependencies import DependencyError
from async_test_harness.settings import ContainerSettings

REPO = Path(__file__).resolve().parents[2]
UV = shutil.which("uv")

pytestmark = [pytest.mark.network, pytest.mark.slow,
              pytest.mark.skipif(UV is None, reason="uv is not installed")]


@pytest.fixture(scope="session")
def harness_wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(["uv", "build", "--quiet", "--wheel", str(REPO / "harness"), "-o", str(out)], check=True)
    return str(next(out.glob("async_test_harness-*.whl")))


def venv(tmp_path: Path) -> str:
    subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(tmp_path / "venv")], check=True)
    return str(tmp_path / "venv" / "bin" / "python")


def installed(python: str) -> Dict[str, str]:
    out = subprocess.run(["uv", "pip", "freeze", "--python", python], check=True, capture_output=True,
                         text=True).stdout
    found = {}
    for line in out.splitlines():  # name==version, or name @ file:///... for the harness wheel
        name, _, version = line.replace(" @ ", "==").partition("==")
        found[name.strip().lower()] = version.strip()
    return found


def tree(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def project(tmp_path: Path, files: Dict[str, str]) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def uv_project(tmp_path: Path, dependencies: str, groups: str) -> Path:
    """A tiny project with a [dependency-groups] table, locked by ``uv lock``."""
    root = project(tmp_path, {"pyproject.toml": f"""
        [project]
        name = "tiny"
        version = "0"
        requires-python = ">=3.9"
        dependencies = {dependencies}

        [dependency-groups]
        {groups}
    """})
    subprocess.run(["uv", "lock", "--quiet", "--project", str(root)], check=True)
    return root


def install(tmp_path: Path, root: Path, wheel: str, settings: ContainerSettings = ContainerSettings()):
    python = venv(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    said: List[str] = []
    before = tree(root)
    plan = dependencies.install(root, python, wheel, settings, work, say=said.append)
    assert tree(root) == before, "the project's tree was changed"
    return python, plan, said


def test_uv_lock_wins_over_a_fresh_resolve(tmp_path: Path, harness_wheel: str) -> None:
    """Locked with SQLAlchemy 2.0.x; the pyproject then allows 2.1 (the newest): the lock's version is installed,
    with its groups (six, pytest at their locked versions although the harness would take newer ones)."""
    root = uv_project(tmp_path, '["sqlalchemy>=2.0,<2.1"]',
                      'dev = ["six==1.16.0"]\n        test = ["pytest>=7.4,<8.4"]')
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text.replace('"sqlalchemy>=2.0,<2.1"', '"sqlalchemy>=2.0"'))
    python, plan, said = install(tmp_path, root, harness_wheel)
    got = installed(python)
    assert got["sqlalchemy"].startswith("2.0."), got
    assert got["six"] == "1.16.0" and got["pytest"].startswith("8.3."), got
    assert "async-test-harness" in got and "asyncpg" in got
    assert said[0] == "installing from uv.lock (frozen; all groups)"
    assert plan.kind == "uv.lock"


def test_uv_lock_with_groups_narrowed(tmp_path: Path, harness_wheel: str) -> None:
    root = uv_project(tmp_path, "[]", 'dev = ["six==1.16.0"]\n        test = ["iniconfig==1.1.1"]')
    python, _plan, said = install(tmp_path, root, harness_wheel, ContainerSettings(groups=["test"]))
    got = installed(python)
    assert "six" not in got and got["iniconfig"] == "1.1.1", got
    assert said[0] == "installing from uv.lock (frozen; groups: test)"


def test_poetry_lock_versions_win(tmp_path: Path, harness_wheel: str) -> None:
    """six locked at 1.15.0 (newest 1.17), faker in a test group locked below its newest; iniconfig, which pytest
    needs too, locked at 1.1.1: all installed as locked, the harness added around them."""
    root = project(tmp_path, {
        "pyproject.toml": """
            [tool.poetry]
            name = "tiny"
            version = "0.1.0"

            [tool.poetry.dependencies]
            python = "^3.9"
            six = "^1.15"

            [tool.poetry.group.test.dependencies]
            faker = ">=20"
            iniconfig = "*"
        """,
        "poetry.lock": """
            [[package]]
            name = "six"
            version = "1.15.0"
            description = "Python 2 and 3 compatibility utilities"
            optional = false
            python-versions = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"
            files = []

            [[package]]
            name = "faker"
            version = "20.1.0"
            description = "Faker is a Python package that generates fake data for you."
            optional = false
            python-versions = ">=3.8"
            files = []

            [package.dependencies]
            python-dateutil = ">=2.4"

            [[package]]
            name = "python-dateutil"
            version = "2.8.2"
            optional = false
            python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,>=2.7"
            files = []

            [package.dependencies]
            six = ">=1.5"

            [[package]]
            name = "iniconfig"
            version = "1.1.1"
            optional = false
            python-versions = "*"
            files = []

            [metadata]
            lock-version = "2.0"
            python-versions = "^3.9"
            content-hash = "0"
        """,
    })
    python, plan, said = install(tmp_path, root, harness_wheel)
    assert plan.kind == "poetry.lock"
    got = installed(python)
    assert got["six"] == "1.15.0" and got["faker"] == "20.1.0", got
    assert got["python-dateutil"] == "2.8.2" and got["iniconfig"] == "1.1.1", got
    assert "pytest" in got and "async-test-harness" in got
    assert said[0] == "installing from poetry.lock (locked versions as constraints; groups: test)"


def test_pdm_lock_versions_win(tmp_path: Path, harness_wheel: str) -> None:
    root = project(tmp_path, {
        "pyproject.toml": """
            [project]
            name = "tiny"
            version = "0"
            requires-python = ">=3.9"
            dependencies = ["six>=1.15"]

            [dependency-groups]
            test = ["iniconfig"]
        """,
        "pdm.lock": """
            [metadata]
            groups = ["default", "test"]
            strategy = ["inherit_metadata"]
            lock_version = "4.5.0"

            [[package]]
            name = "six"
            version = "1.15.0"
            requires_python = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"
            groups = ["default"]
            files = []

            [[package]]
            name = "iniconfig"
            version = "1.1.1"
            groups = ["test"]
            files = []
        """,
    })
    python, _plan, said = install(tmp_path, root, harness_wheel)
    got = installed(python)
    assert got["six"] == "1.15.0" and got["iniconfig"] == "1.1.1", got
    assert said[0] == "installing from pdm.lock (locked versions as constraints; groups: test)"


def test_hashed_requirements_installed_as_given(tmp_path: Path, harness_wheel: str) -> None:
    """A --hash file: installed with --require-hashes; the harness added without changing its pins."""
    (tmp_path / "in.txt").write_text("six==1.16.0\niniconfig==1.1.1\n")
    hashed = subprocess.run(["uv", "pip", "compile", "--quiet", "--generate-hashes", "--no-header",
                             str(tmp_path / "in.txt")], check=True, capture_output=True, text=True).stdout
    assert "--hash=sha256:" in hashed
    root = project(tmp_path, {"requirements.txt": hashed, "requirements-dev.txt": "packaging\n"})
    python, plan, said = install(tmp_path, root, harness_wheel)
    got = installed(python)
    assert got["six"] == "1.16.0" and got["iniconfig"] == "1.1.1", got
    assert "async-test-harness" in got and "packaging" in got
    assert said[0].startswith("installing from requirements.txt (hashes required")
    assert "--require-hashes" in plan.install[0]


def test_a_tampered_hash_fails(tmp_path: Path, harness_wheel: str) -> None:
    root = project(tmp_path, {"requirements.txt": "six==1.16.0 --hash=sha256:" + "0" * 64 + "\n"})
    with pytest.raises(DependencyError, match="Exit code 6"):
        install(tmp_path, root, harness_wheel)


def test_a_lock_below_the_harness_ranges_exits_6_naming_both(tmp_path: Path, harness_wheel: str) -> None:
    root = uv_project(tmp_path, "[]", 'test = ["pytest==6.2.5"]')
    with pytest.raises(DependencyError) as caught:
        install(tmp_path, root, harness_wheel)
    message = str(caught.value)
    assert "pytest==6.2.5 (uv.lock) against pytest>=7.0 (async-test-harness)" in message, message
    assert "uv lock --upgrade-package NAME" in message and message.endswith("Exit code 6.")
    assert "pytest" not in installed(str(tmp_path / "venv" / "bin" / "python"))  # nothing was installed


@pytest.mark.parametrize("backend", ["setuptools", "hatchling"])
def test_the_project_itself_is_installed_editable_without_writing_into_its_tree(
        tmp_path: Path, harness_wheel: str, backend: str) -> None:
    """Issue 24: a library that reads its own version at import. Installed from a copy (setuptools
    would write `*.egg-info` into the tree), then pointed back at the tree: a change to its code is
    what the tests import, with no new install."""
    build = {"setuptools": '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n',
             "hatchling": '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'}[backend]
    root = project(tmp_path, {"pyproject.toml": '[project]\nname = "ownver"\nversion = "3.1.4"\n'
                                                'dependencies = ["six"]\n' + build})
    (root / "ownver").mkdir()
    (root / "ownver" / "__init__.py").write_text('from importlib.metadata import version\n'
                                                 'VERSION = version("ownver")\n')
    python, plan, said = install(tmp_path, root, harness_wheel)  # asserts the tree is unchanged
    assert plan.source.endswith("; the project itself, editable"), said
    code = "import ownver; print(ownver.VERSION, getattr(ownver, 'EDITED', False), ownver.__file__)"
    out = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.split()[:2] == ["3.1.4", "False"] and out.split()[2].startswith(str(root)), out
    (root / "ownver" / "__init__.py").write_text((root / "ownver" / "__init__.py").read_text() + "EDITED = True\n")
    out = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == "True", out
    assert "six" in installed(python)


def test_install_project_false_leaves_it_out(tmp_path: Path, harness_wheel: str) -> None:
    root = project(tmp_path, {"pyproject.toml": '[project]\nname = "ownver"\nversion = "1"\n[build-system]\n'
                                                'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'})
    (root / "ownver").mkdir()
    (root / "ownver" / "__init__.py").write_text("")
    python, plan, _said = install(tmp_path, root, harness_wheel, ContainerSettings(install_project=False))
    assert "ownver" not in installed(python) and "the project itself" not in plan.source
