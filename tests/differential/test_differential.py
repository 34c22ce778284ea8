"""The default run reports what two processes would, and what plain ``pytest --cov`` measures (issue 22).

For every project of this repository (tests/projects/, examples/service/backend, examples/suites/*)
and the generated suites of issue 22 (generated.py), on one copy of the project and in one
environment (the settings a user gives it, as tests/integration/test_real_shapes.py gives them):

1. ``async-test run`` (the default: one pytest session for both passes);
2. ``async-test run --separate-passes`` (a pytest process per pass);
3. ``pytest --cov=SOURCE --cov-report=`` in the project, SOURCE being what the runner measures
   (docs/run.md: --cov-source, the project's own --cov, its coverage config, else guessed), the
   harness configured as the runner configures it, and measuring as the runner's passes measure
   (``coverage_reports.measurement_environment()``: ``concurrency = greenlet, thread``). Without it
   coverage.py misattributes lines after a greenlet switch (line 1981 of a 30-line file): the same
   tests measured another way, not a difference between the modes.

The first two results folders must agree on every fact compare.py reads (counts, each test's
outcome, coverage per file and line per pass and combined, unimported files, thresholds, exit code
and reason; times excepted, deliberate differences listed in compare.DELIBERATE); the lines the
default run's ``.coverage`` holds must be the lines plain pytest ran. One test per project: xdist
spreads the projects over its workers.

A case that differs today is marked ``xfail(strict=True, raises=DifferentResults)`` with the
issue's item: when the fix is merged the case passes, XPASS(strict) fails, and the mark goes.
pytest-randomly is off in every run (``-p no:randomly``): the three runs see the project's own order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Dict, Iterator, List, Optional, Tuple

import pytest
from compare import DifferentResults, Facts, coverage_lines, differences, report, results_facts
from generated import GENERATED, Generated
from shapes import SHAPES, Shape, child_env, copy_project, own_server_url, port_5432_for

from async_test_harness.runner import coverage_reports
from async_test_harness.runner.project import find_project
from helpers import EXAMPLE, REPO, write_files

SUITES = REPO / "examples" / "suites"
NO_RANDOM = ("-p", "no:randomly")


@dataclass(frozen=True)
class Project:
    """One project of the tier: how to put it in a folder, and the environment a user runs it with."""

    name: str
    make: Callable[[Path], Path]  # tmp_path -> the folder given to `async-test run` (and pytest's cwd)
    env: Dict[str, str] = field(default_factory=dict)
    shape: Optional[Shape] = None
    no_plain_comparison: Optional[str] = None


def _clean_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASYNC_TEST_", "_ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_", "COV_CORE_"))
            and k not in ("DATABASE_URL", "PYTHONPATH")}


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".async-test", ".pytest_cache",
                                                                  ".coverage*"))
    return target


def _shape(shape: Shape) -> Project:
    env = {"ASYNC_TEST_DB_FIXTURES": "conn"} if shape.name == "own-server" else {}  # as test_async_test_run
    return Project(f"shape-{shape.name}", lambda tmp: copy_project(shape, tmp) / shape.pytest_dir, env, shape)


def _example(tmp: Path) -> Path:
    return _copy(EXAMPLE.parent, tmp) / "backend"


def _suite(name: str) -> Project:
    return Project(f"suite-{name}", lambda tmp: _copy(SUITES / name, tmp))


def _generated(suite: Generated) -> Project:
    return Project(f"generated-{suite.name}", lambda tmp: write_files(tmp / suite.name, suite.files), suite.env,
                   no_plain_comparison=suite.no_plain_comparison)


PROJECTS: List[Project] = [
    *(_shape(s) for s in SHAPES),
    Project("example-service", _example),
    *(_suite(p.name) for p in sorted(SUITES.iterdir()) if p.is_dir()),
    *(_generated(g) for g in GENERATED),
]

# Cases that differ on today's code: name -> the item and what differs (see the module docstring).
# Each is xfail(strict): when the fix is merged the case passes, XPASS(strict) fails, and its line goes.
KNOWN: Dict[str, str] = {}


def _param(project: Project) -> object:
    reason = KNOWN.get(project.name)
    marks = [pytest.mark.xfail(strict=True, raises=DifferentResults, reason=reason)] if reason else []
    return pytest.param(project, id=project.name, marks=marks)


@pytest.fixture(scope="module")
def own_server(pg_cluster: str) -> Iterator[str]:
    with own_server_url(pg_cluster) as url:
        yield url


def _environment(project: Project, folder: Path, pg_cluster: str, request: pytest.FixtureRequest) -> Dict[str, str]:
    # The harness configured in all three runs, as the runner configures it (block_db is its default;
    # set, it wakes the plugin under plain pytest too, as tests/conftest.py's run_pytest does).
    extra = {"ASYNC_TEST_BLOCK_DB": "true", **project.env}
    if project.shape is not None:
        if "MYAPP_DB" in project.shape.env_from_fixture:
            extra["MYAPP_DB"] = request.getfixturevalue("own_server")
        return child_env(project.shape, folder.parent if project.shape.pytest_dir else folder, pg_cluster, extra)
    return {**_clean_env(), "ASYNC_TEST_PG_CLUSTER": pg_cluster, **extra}


def _run(cmd: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _async_test_run(folder: Path, results: Path, env: Dict[str, str], *args: str) -> Tuple[Facts, str]:
    done = _run([sys.executable, "-m", "async_test_harness.cli", "run", str(folder), "--results-dir", str(results),
                 *args, "--", *NO_RANDOM], folder, env)
    log = f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert (results / "summary.json").is_file(), f"async-test run {' '.join(args)} wrote no summary.json:\n{log}"
    root = find_project(str(folder)).root
    facts = results_facts(results, root)
    facts["process exit code"] = done.returncode
    return facts, log


def _plain_pytest_lines(folder: Path, env: Dict[str, str], data: Path) -> Tuple[Facts, str]:
    """Plain `pytest --cov` with the sources the runner measures (runner/passes.py _command, docs/run.md),
    measured as the runner's passes measure (the same concurrency setting, through the harness plugin)."""
    project = find_project(str(folder))
    cov = [] if project.sources_from_addopts else [f"--cov={s}" for s in project.source_arguments()] or ["--cov"]
    env = {**env, **coverage_reports.measurement_environment(), "COVERAGE_FILE": str(data),
           "PYTHONDONTWRITEBYTECODE": "1"}
    done = _run([sys.executable, "-m", "pytest", *NO_RANDOM, *cov, "--cov-report=", "-o",
                 f"cache_dir={data.parent / '.pytest_cache'}"], project.root, env)
    log = f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    if not data.is_file():  # pytest stopped before any test (a collection error): it measured nothing
        return {}, log
    return {f"plain pytest {f}": lines for f, lines in coverage_lines(data, project.root).items()}, log


def _default_lines(results: Path, root: Path) -> Facts:
    if not (results / ".coverage").is_file():
        return {}
    return {f"plain pytest {f}": lines for f, lines in coverage_lines(results / ".coverage", root).items()}


@pytest.mark.slow
@pytest.mark.parametrize("project", [_param(p) for p in PROJECTS])
def test_default_run_equals_two_processes_and_plain_pytest(project: Project, tmp_path: Path, pg_cluster: str,
                                                           request: pytest.FixtureRequest) -> None:
    (tmp_path / "project").mkdir()
    folder = project.make(tmp_path / "project")
    env = _environment(project, folder, pg_cluster, request)
    port: ContextManager[None] = port_5432_for(project.shape) if project.shape is not None else nullcontext()
    with port:
        default, default_log = _async_test_run(folder, tmp_path / "default", env)
        separate, separate_log = _async_test_run(folder, tmp_path / "separate", env, "--separate-passes")
        plain: Optional[Facts] = None
        plain_log = f"not run: {project.no_plain_comparison}"
        if project.no_plain_comparison is None:
            plain, plain_log = _plain_pytest_lines(folder, env, tmp_path / "plain" / ".coverage")
    problems = []
    found = differences(default, separate)
    if found:
        problems.append(report(found, ("default", "--separate-passes")))
    if plain is not None:
        found = differences(_default_lines(tmp_path / "default", find_project(str(folder)).root), plain)
        if found:
            problems.append(report(found, ("default run's .coverage", "plain pytest --cov")))
    if problems:
        raise DifferentResults("\n\n".join(problems) + f"\n\n--- default run\n{default_log}\n"
                               f"--- --separate-passes\n{separate_log}\n--- plain pytest --cov\n{plain_log}")
    # The comparison compared something: each test the summary counts has its JUnit case (in the passes
    # that wrote one: a process that died, os._exit or a signal, writes none, in both modes), but for
    # those that did not report (pytest never saw them end).
    total = sum(separate.get(f"summary.json passes.{k}.counts.total", 0)
                - len([u for u in separate if u.startswith(f"summary.json passes.{k}.failures[")
                       and u.endswith("(unreported)].when")])
                for k in ("unit", "integration") if f"folder junit-{k}.xml" in separate)
    cases = [k for k in separate if k.startswith("junit-") and "::" in k]
    assert len(cases) >= total, (total, cases)
