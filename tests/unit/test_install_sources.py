"""The container's install plan: which source wins, the lock readers, the pin check (no network)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from async_test_harness.cli import build_parser
from async_test_harness.runner import dependencies
from async_test_harness.runner.dependencies import (
    DependencyError,
    conflicts,
    constraint_lines,
    declared_requirements,
    detect,
    plan,
    read_lock,
    read_pins,
)
from async_test_harness.runner.passes import Console, Run, RunOptions
from async_test_harness.runner.project import find_project
from async_test_harness.settings import ContainerSettings, Settings

HARNESS_RANGES = ["pytest>=7.4", "pytest-asyncio>=0.23", "sqlalchemy[asyncio]>=2.0", "asyncpg>=0.28",
                  "coverage[toml]>=7.3", "pytest-cov>=4.1", "tomli>=2.0; python_version < '3.11'"]
PYPROJECT = '[project]\nname = "app"\nversion = "0"\ndependencies = ["six"]\n'
POETRY_PYPROJECT = textwrap.dedent("""
    [tool.poetry]
    name = "app"
    version = "0.1.0"

    [tool.poetry.dependencies]
    python = "^3.9"
    six = "^1.15"
    requests = { version = "^2.0", extras = ["socks"] }
    redis = { version = "*", optional = true }
    mylib = { path = "../mylib", develop = true }

    [tool.poetry.extras]
    cache = ["redis"]

    [tool.poetry.group.test.dependencies]
    faker = "^20"

    [tool.poetry.group.docs.dependencies]
    mkdocs = "*"
""")
POETRY_LOCK = textwrap.dedent("""
    [[package]]
    name = "six"
    version = "1.15.0"
    description = ""
    optional = false
    python-versions = ">=2.7"
    files = []

    [[package]]
    name = "Faker"
    version = "20.1.0"
    optional = false
    python-versions = ">=3.8"
    files = []

    [[package]]
    name = "colorama"
    version = "0.4.6"
    markers = "sys_platform == \\"win32\\""
    files = []

    [[package]]
    name = "SQLAlchemy"
    version = "1.4.52"
    files = []

    [metadata]
    lock-version = "2.0"
    python-versions = "^3.9"
    content-hash = "0"
""")


def write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(("files", "kind"), [
    ({"uv.lock": "", "poetry.lock": "", "pdm.lock": "", "requirements.txt": "six==1 --hash=sha256:0",
      "pyproject.toml": PYPROJECT}, "uv.lock"),
    ({"poetry.lock": "", "pdm.lock": "", "requirements.txt": "six", "pyproject.toml": PYPROJECT}, "poetry.lock"),
    ({"pdm.lock": "", "requirements.txt": "six", "pyproject.toml": PYPROJECT}, "pdm.lock"),
    ({"requirements.txt": "six==1.16.0 \\\n    --hash=sha256:00\n", "requirements-dev.txt": "pytest\n",
      "pyproject.toml": PYPROJECT}, "hashed-requirements"),
    ({"requirements-dev.txt": "pytest\n", "pyproject.toml": PYPROJECT}, "requirements"),
    ({"pyproject.toml": PYPROJECT}, "pyproject"),
    ({"uv.lock": ""}, "none"),  # a lock without its pyproject.toml cannot be exported
    ({}, "none"),
])
def test_detection_order(tmp_path: Path, files: dict, kind: str) -> None:
    assert detect(write(tmp_path, files), ContainerSettings()) == kind


def test_explicit_requirements_win_over_a_lock(tmp_path: Path) -> None:
    write(tmp_path, {"uv.lock": "", "pyproject.toml": PYPROJECT, "ci.txt": "six\n"})
    assert detect(tmp_path, ContainerSettings(requirements=["ci.txt"])) == "requirements"


def test_uv_lock_plan_exports_every_group_outside_the_tree(tmp_path: Path) -> None:
    root, work = tmp_path / "p", tmp_path / "w"
    root.mkdir(), work.mkdir()
    write(root, {"uv.lock": "", "pyproject.toml": PYPROJECT})
    p = plan(root, "/venv/bin/python", "harness.whl", ContainerSettings(), work)
    assert p.source == "uv.lock (frozen; all groups)"
    export = p.prepare[0]
    assert export[:5] == ["uv", "export", "--frozen", "--no-emit-project", "--project"]
    assert "--all-groups" in export and str(work / "uv-lock-requirements.txt") in export
    assert p.install == [["uv", "pip", "install", "--python", "/venv/bin/python", "-r",
                          str(work / "uv-lock-requirements.txt"), "harness.whl"]]
    narrowed = plan(root, "py", "h", ContainerSettings(groups=["test"], extras=["pg"]), work)
    assert narrowed.source == "uv.lock (frozen; groups: test; extras: pg)"
    assert narrowed.prepare[0][-5:] == ["--no-default-groups", "--group", "test", "--extra", "pg"]
    assert sorted(p.name for p in root.iterdir()) == ["pyproject.toml", "uv.lock"]


def test_poetry_lock_reader(tmp_path: Path) -> None:
    (tmp_path / "poetry.lock").write_text(POETRY_LOCK)
    locked = read_lock(tmp_path / "poetry.lock")
    assert [(p.name, p.version) for p in locked] == [("six", "1.15.0"), ("Faker", "20.1.0"), ("colorama", "0.4.6"),
                                                    ("SQLAlchemy", "1.4.52")]
    assert constraint_lines(locked) == ['colorama==0.4.6 ; sys_platform == "win32"', "faker==20.1.0",
                                        "six==1.15.0", "sqlalchemy==1.4.52"]


def test_poetry_declared_dependencies_and_groups() -> None:
    pyproject = dependencies.tomllib.loads(POETRY_PYPROJECT)
    reqs, groups, skipped = declared_requirements(pyproject, "poetry.lock", [], [], {})
    assert reqs == ["six", "requests[socks]", "mkdocs", "faker"] and groups == ["docs", "test"]
    assert skipped == ["mylib (a local path dependency)"]
    reqs, groups, _ = declared_requirements(pyproject, "poetry.lock", ["test"], ["cache"], {})
    assert reqs == ["six", "requests[socks]", "redis", "faker"] and groups == ["test"]
    with pytest.raises(DependencyError, match=r"group\(s\) tests asked for .* \(it has: docs, test\)"):
        declared_requirements(pyproject, "poetry.lock", ["tests"], [], {})


def test_pdm_declared_dependencies() -> None:
    pyproject = {"project": {"name": "app", "dependencies": ["six>=1"], "optional-dependencies": {"pg": ["asyncpg"]}},
                 "tool": {"pdm": {"dev-dependencies": {"lint": ["ruff"], "test": ["-e file:///${PROJECT_ROOT}/x",
                                                                                    "pytest>=7"]}}},
                 "dependency-groups": {"docs": ["mkdocs"]}}
    reqs, groups, skipped = declared_requirements(pyproject, "pdm.lock", [], ["pg"], {})
    assert reqs == ["six>=1", "asyncpg", "mkdocs", "ruff", "pytest>=7"] and groups == ["docs", "lint", "test"]
    assert skipped == ["-e file:///${PROJECT_ROOT}/x (a local path dependency)"]


def test_poetry_plan_pins_every_locked_version(tmp_path: Path) -> None:
    root, work = tmp_path / "p", tmp_path / "w"
    root.mkdir(), work.mkdir()
    write(root, {"poetry.lock": POETRY_LOCK, "pyproject.toml": POETRY_PYPROJECT})
    p = plan(root, "py", "h.whl", ContainerSettings(groups=["test"]), work)
    assert p.source == "poetry.lock (locked versions as constraints; groups: test)"
    assert p.install == [["uv", "pip", "install", "--python", "py", "-r", str(work / "poetry-lock-requirements.txt"),
                          "-c", str(work / "poetry-lock-constraints.txt"), "h.whl"]]
    assert (work / "poetry-lock-requirements.txt").read_text() == "six\nrequests[socks]\nfaker\n"
    assert "six==1.15.0" in (work / "poetry-lock-constraints.txt").read_text()
    assert p.notes and "mylib" in p.notes[0]


def test_a_lock_below_the_harness_ranges_exits_before_installing(tmp_path: Path) -> None:
    """sqlalchemy 1.4 locked: one paragraph naming both pins; nothing is run."""
    root, work = tmp_path / "p", tmp_path / "w"
    root.mkdir(), work.mkdir()
    write(root, {"poetry.lock": POETRY_LOCK, "pyproject.toml": POETRY_PYPROJECT})
    said = []
    with pytest.raises(DependencyError) as caught:
        dependencies.install(root, "/nonexistent/python", "h.whl", ContainerSettings(), work, say=said.append,
                             harness_ranges=HARNESS_RANGES)
    message = str(caught.value)
    assert "sqlalchemy==1.4.52 (poetry.lock) against sqlalchemy[asyncio]>=2.0 (async-test-harness)" in message
    assert "poetry update NAME" in message and message.endswith("Exit code 6.")
    assert not any(line.startswith("$ ") for line in said), said  # no install started


def test_read_pins_of_an_exported_lock(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text(textwrap.dedent("""\
        # a comment
        -e ./local
        colorama==0.4.6 ; sys_platform == 'win32' \\
            --hash=sha256:08 \\
            --hash=sha256:4f
            # via pytest
        pytest==7.0.0 \\
            --hash=sha256:aa
        SQLAlchemy[asyncio]==1.4.52
        requests>=2
    """))
    assert read_pins(tmp_path / "r.txt") == [("colorama", "0.4.6", "sys_platform == 'win32'"),
                                             ("pytest", "7.0.0", ""), ("sqlalchemy", "1.4.52", "")]


def test_conflicts_name_both_sides_and_respect_markers() -> None:
    pins = [("pytest", "7.0.0", ""), ("sqlalchemy", "2.0.30", ""), ("coverage", "6.0", "sys_platform == 'nope'"),
            ("tomli", "1.0", ""), ("six", "1.0", "")]
    found = conflicts(pins, "uv.lock", HARNESS_RANGES, environment={"python_version": "3.12"})
    assert found == ["pytest==7.0.0 (uv.lock) against pytest>=7.4 (async-test-harness)"]
    older = conflicts([("tomli", "1.0", "")], "uv.lock", HARNESS_RANGES, environment={"python_version": "3.10"})
    assert older == ["tomli==1.0 (uv.lock) against tomli>=2.0 (async-test-harness)"]


def test_harness_ranges_come_from_its_metadata() -> None:
    assert any(r.startswith("sqlalchemy") for r in dependencies.harness_requirements())


def test_the_run_header_names_the_install_source(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    args = build_parser().parse_args(["run", "--install-source", "uv.lock (frozen; all groups)"])
    assert args.install_source == "uv.lock (frozen; all groups)"
    out = io.StringIO()
    run = Run(RunOptions(project_dir=str(tmp_path), coverage=False, install_source=args.install_source),
              Console(out))
    run._header(find_project(str(tmp_path)), Settings(), tmp_path / ".async-test", ["unit"])
    assert "  installed   from uv.lock (frozen; all groups)\n" in out.getvalue()
    out = io.StringIO()
    Run(RunOptions(project_dir=str(tmp_path), coverage=False), Console(out))._header(
        find_project(str(tmp_path)), Settings(), tmp_path / ".async-test", ["unit"])
    assert "installed" not in out.getvalue()


def test_the_container_passes_the_source_and_a_custom_command_wins(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """ASYNC_TEST_INSTALL beats every lock; otherwise dependencies.install chooses, its source goes to the run."""
    import subprocess

    from async_test_harness.runner import container

    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "async_test_harness-0.1.0-py3-none-any.whl").write_text("")
    write(tmp_path, {"uv.lock": "", "pyproject.toml": PYPROJECT})
    monkeypatch.setattr(container, "HARNESS_HOME", tmp_path)
    monkeypatch.setattr(container, "cache_dir", lambda: str(tmp_path / "cache"))
    ran: list = []
    monkeypatch.setattr(container.subprocess, "run",
                        lambda cmd, **kw: ran.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""))
    chose: list = []
    monkeypatch.setattr(container.dependencies, "install",
                        lambda root, python, wheel, settings, workdir, env, say: chose.append(wheel) or
                        dependencies.Plan(source="uv.lock (frozen; all groups)", kind="uv.lock"))
    venv = str(tmp_path / "venv")
    _, _, source = container.install(tmp_path, ContainerSettings(install="make deps", venv=venv))
    assert source == "ASYNC_TEST_INSTALL (your command)" and not chose and ran[-1] == ["sh", "-c", "make deps"]
    _, _, source = container.install(tmp_path, ContainerSettings(venv=venv))
    assert source == "uv.lock (frozen; all groups)" and chose

    executed: list = []
    monkeypatch.setattr(container, "install", lambda root, settings, interpreter: ("/venv/bin/python", 1.0, source))
    monkeypatch.setattr(container.os, "execvpe", lambda file, args, env: executed.append(args))
    monkeypatch.setattr(container, "become_workspace_owner", lambda workspace: None)  # never setuid in a test
    monkeypatch.setenv("ASYNC_TEST_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    container.main([])
    assert executed[0][executed[0].index("--install-source") + 1] == "uv.lock (frozen; all groups)"


@pytest.mark.parametrize(("requires", "running", "refused"), [
    (">=3.13", "3.11.7", True),
    (">=3.9", "3.11.7", False),
    (">=3.10,<3.11", "3.11.7", True),
    ("~=3.11", "3.11.7", False),
    (None, "3.11.7", False),
])
def test_a_project_whose_requires_python_excludes_the_images_python_is_refused(tmp_path, requires, running, refused):
    from async_test_harness.runner.dependencies import python_mismatch

    project = "[project]\nname = 'x'\nversion = '1'\n" + (f"requires-python = '{requires}'\n" if requires else "")
    (tmp_path / "pyproject.toml").write_text(project)
    message = python_mismatch(tmp_path, running)
    assert bool(message) == refused
    if refused:
        assert requires in message and running in message and "Exit code 2" in message


UV_SOURCE_BUILD_FAILURE = """\
Resolved 21 packages in 1.02s
  x Failed to build `psycopg2==2.9.10`
  |-> The build backend returned an error
  `-> Call to `setuptools.build_meta.build_wheel` failed (exit status: 1)
         It appears you are missing some prerequisite to build the package from source.
         You may install a binary package by installing 'psycopg2-binary' from PyPI.
         error: [Errno 2] No such file or directory: 'x86_64-linux-gnu-gcc'
hint: Build failures usually indicate a problem with the package or the build environment
"""


def test_a_source_only_package_without_a_compiler_is_named_with_both_ways_out():
    from async_test_harness.runner.dependencies import install_failure

    message = " ".join(install_failure(1, UV_SOURCE_BUILD_FAILURE).split())
    assert "psycopg2 has no wheel" in message and "psycopg2-binary instead of psycopg2" in message
    assert "build-tools: true" in message and "BUILD_TOOLS=true" in message and "Exit code 6" in message
    assert "Fix the requirements" not in message


def test_pip_wording_and_a_missing_pg_config_are_recognised_too():
    from async_test_harness.runner.dependencies import install_failure

    pip = ("Building wheel for asyncpg-ext (pyproject.toml) did not run successfully.\n"
           "  unable to execute 'gcc': No such file or directory\nFailed building wheel for asyncpg-ext\n")
    assert "asyncpg-ext has no wheel" in install_failure(1, pip)
    assert "a dependency has no wheel" in install_failure(1, "Error: pg_config executable not found.\n")
    assert "Fix the requirements" in install_failure(1, "No solution found when resolving dependencies\n")


@pytest.mark.parametrize(("pinned", "noted"), [("3.12\n", True), ("3.11.4\n", False), ("# dev\ncpython-3.13\n", True),
                                               ("pypy3.10\n", False), (None, False)])
def test_a_python_version_pin_that_differs_is_noted_not_refused(tmp_path, pinned, noted):
    from async_test_harness.runner.dependencies import python_version_note

    if pinned is not None:
        (tmp_path / ".python-version").write_text(pinned)
    note = python_version_note(tmp_path, "3.11.2")
    assert bool(note) == noted
    if noted:
        assert "this image runs Python 3.11.2" in note


# ----------------------------------------------------------------- extras: all, groups: all (issue 24)


def test_all_extras_and_groups_for_each_source(tmp_path: Path) -> None:
    """`all` asks for every extra/group the project declares, as `uv sync --all-extras --all-groups` does."""
    root, work = tmp_path / "p", tmp_path / "w"
    root.mkdir(), work.mkdir()
    write(root, {"uv.lock": "", "pyproject.toml": PYPROJECT})
    p = plan(root, "py", "h", ContainerSettings(extras=["all"], groups=["all"]), work)
    assert p.source == "uv.lock (frozen; all groups; all extras)"
    assert "--all-extras" in p.prepare[0] and "--all-groups" in p.prepare[0] and "--extra" not in p.prepare[0]

    poetry = tmp_path / "poetry"
    poetry.mkdir()
    write(poetry, {"poetry.lock": POETRY_LOCK, "pyproject.toml": POETRY_PYPROJECT})
    p = plan(poetry, "py", "h", ContainerSettings(extras=["ALL"], groups=["all"]), work)
    assert p.source == "poetry.lock (locked versions as constraints; groups: docs, test; extras: cache)"
    assert "redis" in (work / "poetry-lock-requirements.txt").read_text().split()

    plain = tmp_path / "plain"
    plain.mkdir()
    write(plain, {"pyproject.toml": PYPROJECT + '[project.optional-dependencies]\npg = ["asyncpg"]\n'
                                               '[dependency-groups]\ntest = ["pytest"]\nlint = ["ruff"]\n'})
    p = plan(plain, "py", "h", ContainerSettings(extras=["all"], groups=["all"]), work)
    cmd = p.install[0]
    assert "--all-extras" in cmd and "all" not in cmd
    groups = [cmd[i + 1] for i, part in enumerate(cmd) if part == "--group"]
    assert groups == [f"{plain / 'pyproject.toml'}:test", f"{plain / 'pyproject.toml'}:lint"]


def test_all_is_listed_in_the_settings_help() -> None:
    from async_test_harness.settings import CONTAINER_OPTIONS

    by_name = {o.name: o for o in CONTAINER_OPTIONS}
    assert "all: every extra" in by_name["extras"].help and "all: every group" in by_name["groups"].help
    assert by_name["install_after"].env == "ASYNC_TEST_INSTALL_AFTER"


# ----------------------------------------------------------------- the project itself (issue 24)


@pytest.mark.parametrize("files, package", [
    ({"pyproject.toml": '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'}, True),
    ({"setup.py": "from setuptools import setup\nsetup()\n"}, True),
    ({"pyproject.toml": PYPROJECT}, False),  # no build backend: uv sync installs nothing of it either
    ({"pyproject.toml": '[tool.poetry]\npackage-mode = false\n[build-system]\nbuild-backend = "poetry.core"\n'}, False),
    ({"pyproject.toml": '[tool.uv]\npackage = false\n[build-system]\nbuild-backend = "hatchling.build"\n'}, False),
])
def test_which_projects_are_packages(tmp_path: Path, files: dict, package: bool) -> None:
    from async_test_harness.runner.own_package import is_package

    assert is_package(write(tmp_path, files)) is package


def test_repoint_turns_the_copy_into_the_workspace(tmp_path: Path) -> None:
    from async_test_harness.runner.own_package import repoint

    site, copy, root = tmp_path / "site", tmp_path / "scratch" / "proj", tmp_path / "ws" / "proj"
    (site / "proj-1.dist-info").mkdir(parents=True)
    (site / "_proj.pth").write_text(f"{copy}/src\n")
    (site / "__editable___proj_finder.py").write_text(f"MAPPING = {{'proj': '{copy}/proj'}}\n")
    (site / "proj-1.dist-info" / "direct_url.json").write_text(f'{{"url": "file://{copy}"}}')
    (site / "other.pth").write_text("/elsewhere\n")
    changed = repoint(site, copy, root)
    assert sorted(p.name for p in changed) == ["__editable___proj_finder.py", "_proj.pth", "direct_url.json"]
    assert (site / "_proj.pth").read_text() == f"{root}/src\n"
    assert str(copy) not in (site / "__editable___proj_finder.py").read_text()
    assert (site / "other.pth").read_text() == "/elsewhere\n"


@pytest.mark.parametrize("argv", [["run", "--help"], ["run", ".", "-h"], [".", "--only", "unit", "--help"]])
def test_run_help_in_the_image_installs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list) -> None:
    """Issue 24 item 9: `docker run IMAGE run --help` installed the dependencies first (behind a proxy it
    exited 6 and never showed the help)."""
    from async_test_harness.runner import container

    executed = []

    def execvp(file: str, args: list) -> None:
        executed.append(args)
        raise SystemExit(0)

    monkeypatch.setattr(container.os, "execvp", execvp)
    monkeypatch.setattr(container, "install", lambda *a: pytest.fail("help installs nothing"))
    monkeypatch.setenv("ASYNC_TEST_WORKSPACE", str(tmp_path))
    with pytest.raises(SystemExit):
        container.main(argv)
    assert executed == [["async-test", "run", *(argv[1:] if argv[0] == "run" else argv)]]
