"""`async-test run` reads a project's own configuration as pytest and coverage.py would.

Small real projects written into tmp_path, run with the real command (a subprocess): the
project's coverage threshold (fail_under, --cov-fail-under in addopts), pytest 9's native
``[tool.pytest]`` table, and ``--cov=SRC`` in the project's addopts. Most runs use
``--only unit``, which needs no PostgreSQL; the one that needs both passes uses the session's
pre-initialised cluster.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

import jsonschema
import pytest

from async_test_harness.runner.project import find_project
from helpers import REPO, assert_summary_round_trip, write_files

SCHEMA = json.loads((REPO / "docs" / "summary.schema.json").read_text())

# Four statements: each function is half of them; a test that calls one covers 75%.
CORE = "def unit_part():\n    return 1\n\n\ndef integration_part():\n    return 2\n"
# Six statements, five of them covered by tests calling both functions: 83.33%.
CORE_WITH_DEAD_CODE = CORE + "\n\ndef never_called():\n    return 3\n"
TEST_UNIT = "from app.core import unit_part\n\n\ndef test_unit_part():\n    assert unit_part() == 1\n"
TEST_BOTH = TEST_UNIT + "\n\ndef test_integration_part():\n    from app.core import integration_part\n\n" \
                        "    assert integration_part() == 2\n"
TEST_INTEGRATION = ("from app.core import integration_part\n\n\n"
                    "def test_integration_part():\n    assert integration_part() == 2\n")
PYPROJECT_FAIL_UNDER_95 = "[tool.pytest.ini_options]\naddopts = \"-p no:cacheprovider\"\n\n" \
                          "[tool.coverage.report]\nfail_under = 95\n"


@pytest.fixture
def env() -> Dict[str, str]:
    """The caller's environment without anything that would configure the harness, pytest or coverage."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_"))
            and k != "DATABASE_URL"}


write = write_files


def run(project: Path, env: Dict[str, str], *args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def summary_of(root: Path) -> dict:
    data = json.loads((root / ".async-test" / "summary.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert_summary_round_trip(root / ".async-test" / "summary.json")
    return data


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout[-4000:] + done.stderr[-2000:]


# ---------------------------------------------------------------- the project's coverage threshold


def test_project_fail_under_is_checked_on_the_combined_figure_not_in_each_pass(tmp_path, env, pg_cluster):
    """Each pass covers 75%, both together 100%: the project's fail_under = 95 is met."""
    project = write(tmp_path / "svc", {
        "pyproject.toml": PYPROJECT_FAIL_UNDER_95,
        "app/__init__.py": "", "app/core.py": CORE,
        "tests/unit/test_core_unit.py": TEST_UNIT,
        "tests/integration/test_core_integration.py": TEST_INTEGRATION,
    })
    done = run(project, dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster))
    assert done.returncode == 0, output(done)
    s = summary_of(project)
    cov = s["coverage"]
    assert cov["unit"]["percent"] == cov["integration"]["percent"] == 75.0
    assert cov["combined"]["percent"] == 100.0
    assert s["passes"]["unit"]["status"] == s["passes"]["integration"]["status"] == "passed"
    assert s["passes"]["unit"]["exit_code"] == s["passes"]["integration"]["exit_code"] == 0
    assert cov["thresholds"] == {"unit": None, "integration": None, "combined": 95}
    assert cov["threshold_sources"]["combined"] == "fail_under in pyproject.toml [tool.coverage.report]"
    assert cov["below_threshold"] == []
    assert "Required test coverage" not in done.stdout, "pytest-cov checked a threshold inside a pass"
    assert "threshold   combined 95% (fail_under in pyproject.toml [tool.coverage.report])" in done.stdout
    md = (project / ".async-test" / "summary.md").read_text()
    assert "- combined coverage threshold 95% (fail_under in pyproject.toml [tool.coverage.report]): met" in md


@pytest.mark.parametrize("files, origin", [
    pytest.param({"pyproject.toml": PYPROJECT_FAIL_UNDER_95},
                 "fail_under in pyproject.toml [tool.coverage.report]", id="pyproject"),
    pytest.param({"pytest.ini": "[pytest]\n", ".coveragerc": "[report]\nfail_under = 95\n"},
                 "fail_under in .coveragerc [report]", id="coveragerc"),
    # coverage.py reads setup.cfg before pyproject.toml: its 95 is the threshold, not pyproject's 50.
    pytest.param({"pytest.ini": "[pytest]\n", "setup.cfg": "[coverage:report]\nfail_under = 95\n",
                  "pyproject.toml": "[tool.coverage.report]\nfail_under = 50\n"},
                 "fail_under in setup.cfg [coverage:report]", id="setup.cfg-before-pyproject"),
    # pytest-cov's --cov-fail-under wins over coverage.py's fail_under.
    pytest.param({"pyproject.toml": "[tool.pytest.ini_options]\naddopts = \"--cov-fail-under=95\"\n\n"
                                    "[tool.coverage.report]\nfail_under = 50\n"},
                 "--cov-fail-under=95 in pytest addopts (pyproject.toml [tool.pytest.ini_options])", id="addopts"),
])
def test_combined_below_the_project_threshold_exits_4_and_names_where_it_was_set(tmp_path, env, files, origin):
    project = write(tmp_path / "svc", {**files, "app/__init__.py": "", "app/core.py": CORE_WITH_DEAD_CODE,
                                       "tests/test_core.py": TEST_BOTH})
    done = run(project, env, "--only", "unit")
    s = summary_of(project)
    message = f"combined coverage 83.33% < 95% ({origin})"
    assert done.returncode == 4, output(done)
    assert s["passes"]["unit"]["status"] == "passed" and s["passes"]["unit"]["exit_code"] == 0
    assert s["exit"] == {"code": 4, "name": "coverage_below_threshold", "reason": message}
    assert s["coverage"]["below_threshold"] == [message]
    assert s["coverage"]["thresholds"]["combined"] == 95
    assert s["coverage"]["threshold_sources"]["combined"] == origin
    assert f"result: {message} (exit 4)" in done.stdout
    md = (project / ".async-test" / "summary.md").read_text()
    assert md.startswith(f"# async-test: {message} (exit 4)")
    assert f"- combined coverage threshold 95% ({origin}): missed, measured 83.3%" in md


def test_an_explicit_fail_under_wins_over_the_project_threshold(tmp_path, env):
    project = write(tmp_path / "svc", {"pyproject.toml": PYPROJECT_FAIL_UNDER_95, "app/__init__.py": "",
                                       "app/core.py": CORE_WITH_DEAD_CODE, "tests/test_core.py": TEST_BOTH})
    done = run(project, env, "--only", "unit", "--fail-under", "80")
    assert done.returncode == 0, output(done)
    cov = summary_of(project)["coverage"]
    assert cov["thresholds"]["combined"] == 80 and cov["threshold_sources"]["combined"] == "--fail-under"
    assert cov["below_threshold"] == []


def test_cov_fail_under_in_unit_args_is_the_unit_threshold(tmp_path, env):
    project = write(tmp_path / "svc", {"pytest.ini": "[pytest]\n", "app/__init__.py": "",
                                       "app/core.py": CORE_WITH_DEAD_CODE, "tests/test_core.py": TEST_BOTH})
    done = run(project, env, "--only", "unit", "--unit-args=--cov-fail-under=90")
    s = summary_of(project)
    assert done.returncode == 4, output(done)
    assert s["passes"]["unit"]["exit_code"] == 0, "pytest-cov applied the threshold inside the pass"
    assert s["coverage"]["below_threshold"] == ["unit coverage 83.33% < 90% (--cov-fail-under=90 in --unit-args)"]


def test_no_coverage_turns_off_the_projects_own_cov_and_threshold(tmp_path, env):
    project = write(tmp_path / "svc", {
        "pyproject.toml": "[tool.pytest]\naddopts = [\"--cov=app\"]\n\n[tool.coverage.report]\nfail_under = 95\n",
        "app/__init__.py": "", "app/core.py": CORE_WITH_DEAD_CODE, "tests/test_core.py": TEST_BOTH})
    done = run(project, env, "--only", "unit", "--no-coverage")
    assert done.returncode == 0, output(done)
    s = summary_of(project)
    assert s["coverage"]["thresholds"] == {"unit": None, "integration": None, "combined": None}
    assert "Required test coverage" not in done.stdout and "coverage: platform" not in done.stdout


# ---------------------------------------------------------------- pytest's exit code without a failing test


def test_a_pass_failed_by_a_hook_with_no_failing_test_says_so(tmp_path, env):
    project = write(tmp_path / "svc", {
        "pytest.ini": "[pytest]\n",
        "conftest.py": textwrap.dedent("""
            import pytest

            @pytest.hookimpl(wrapper=True)
            def pytest_runtestloop(session):
                result = yield
                session.testsfailed += 1  # what pytest-cov's --cov-fail-under does
                return result
        """),
        "app/__init__.py": "", "app/core.py": CORE, "tests/test_core.py": TEST_BOTH,
    })
    done = run(project, env, "--only", "unit")
    assert done.returncode == 1, output(done)
    s = summary_of(project)
    unit = s["passes"]["unit"]
    assert unit["exit_code"] == 1 and unit["failures"] == [] and unit["counts"]["passed"] == 2
    assert unit["status"] == "error"
    assert unit["status_reason"].startswith("pytest exited 1 (tests failed) but no test failed or errored")
    assert s["exit"]["name"] == "tests_failed"
    assert s["exit"]["reason"] == f"unit pass: {unit['status_reason']}"
    assert "result: tests failed (exit 1)" not in done.stdout
    assert "unit pass error: pytest exited 1 (tests failed) but no test failed or errored" in done.stdout
    assert "**unit pass error**: pytest exited 1" in (project / ".async-test" / "summary.md").read_text()


def test_pytest_exit_in_a_test_is_not_a_green_run(tmp_path, env):
    project = write(tmp_path / "svc", {
        "pytest.ini": "[pytest]\n",
        "tests/test_stop.py": "import pytest\n\n\ndef test_stop():\n    pytest.exit('giving up')\n",
    })
    done = run(project, env, "--only", "unit")
    assert done.returncode == 1, output(done)
    unit = summary_of(project)["passes"]["unit"]
    assert unit["exit_code"] == 2 and unit["status"] == "error"
    assert "pytest.exit()" in unit["status_reason"]


# ---------------------------------------------------------------- pytest 9's [tool.pytest] table


def test_tool_pytest_table_is_the_config_when_run_from_a_subfolder(tmp_path, env):
    project = write(tmp_path / "svc", {
        "pyproject.toml": "[tool.pytest]\npythonpath = [\"src\"]\ntestpaths = [\"tests\"]\n",
        "src/svc_pkg/__init__.py": "", "src/svc_pkg/core.py": CORE,
        "tests/test_core.py": TEST_BOTH.replace("app.core", "svc_pkg.core"),
    })
    done = run(Path("."), env, "--only", "unit", cwd=project / "tests")
    assert done.returncode == 0, output(done)
    assert f"  config      {project / 'pyproject.toml'}\n" in done.stdout
    assert "  coverage    src (guessed)\n" in done.stdout
    s = summary_of(project)  # the results folder is in the project root, not in tests/
    assert s["project"]["root"] == str(project)
    assert [f["path"] for f in s["coverage"]["files"]] == ["src/svc_pkg/__init__.py", "src/svc_pkg/core.py"]
    assert s["coverage"]["combined"]["percent"] == 100.0


def test_pytest_config_files_follow_pytest_9s_rules(tmp_path):
    def root_of(files: Dict[str, str]) -> Path:
        base = tmp_path / str(len(list(tmp_path.iterdir())))
        write(base, {**files, "sub/keep": ""})
        found = find_project(str(base / "sub"))
        return found.config_file.relative_to(base) if found.config_file else None

    assert root_of({"pyproject.toml": "[tool.pytest]\nminversion = \"9.0\"\n"}) == Path("pyproject.toml")
    assert root_of({"pyproject.toml": "[tool.pytest.ini_options]\n"}) == Path("pyproject.toml")
    assert root_of({"pyproject.toml": "[tool.pytest]\n"}) is None, "an empty [tool.pytest] is no config for pytest"
    assert root_of({"pytest.toml": "[pytest]\n", "pytest.ini": "[pytest]\n"}) == Path("pytest.toml")
    # Both tables: pytest 9 refuses the file with its own message, from this root.
    both = "[tool.pytest]\naddopts = [\"-q\"]\n\n[tool.pytest.ini_options]\naddopts = \"-v\"\n"
    assert root_of({"pyproject.toml": both}) == Path("pyproject.toml")


# ---------------------------------------------------------------- --cov=SRC in the project's addopts


@pytest.mark.parametrize("config, where", [
    ({"pyproject.toml": "[tool.pytest]\naddopts = [\"--cov=app\", \"--cov-report=term-missing\"]\n"},
     "pyproject.toml [tool.pytest]"),
    ({"pyproject.toml": "[tool.pytest.ini_options]\naddopts = \"--cov=app --cov-report=term-missing\"\n"},
     "pyproject.toml [tool.pytest.ini_options]"),
])
def test_the_projects_own_cov_source_is_what_is_measured(tmp_path, env, config, where):
    """`--cov=app` in addopts: app/ is measured once, and not the tools/ package a guess would add."""
    project = write(tmp_path / "svc", {
        **config, "app/__init__.py": "", "app/core.py": CORE, "tests/test_core.py": TEST_BOTH,
        "tools/__init__.py": "def cli():\n    return 0\n",
    })
    done = run(project, env, "--only", "unit", "--fail-under", "100")
    assert done.returncode == 0, output(done)
    assert f"  coverage    app (--cov in pytest addopts ({where}))\n" in done.stdout
    cov = summary_of(project)["coverage"]
    assert [f["path"] for f in cov["files"]] == ["app/__init__.py", "app/core.py"]
    assert cov["combined"] == {"percent": 100.0, "covered_lines": 4, "statements": 4}


# ---------------------------------------------------------------- the runner's server, handed to the pass


TEST_SEES_THE_RUNNERS_SERVER = '''\
import os

import pytest


@pytest.mark.asyncio
async def test_the_pass_gets_a_server_of_the_harness(db_url, async_engine):
    # handed over and taken: a nested pytest cannot attach
    assert "_ASYNC_TEST_SERVER" not in os.environ and "_ASYNC_TEST_SERVER_FILE" not in os.environ
    assert "?" not in db_url and "?" not in os.environ["DATABASE_URL"]  # what projects see stays plain
    assert async_engine.url.query.get("ssl") == "disable"  # the harness's engine skips the SSL upgrade
    assert not db_url.rsplit("/", 1)[1].startswith("async_test_")  # not a foreign server's random prefix
'''


def test_the_integration_pass_runs_on_the_runners_server_as_its_own(tmp_path, env, pg_cluster):
    """async-test run hands its server to the pass as the harness's own, not as a foreign URL."""
    project = write(tmp_path / "svc", {
        "pytest.ini": "[pytest]\nasyncio_mode = strict\n",
        "tests/test_server.py": TEST_SEES_THE_RUNNERS_SERVER,
    })
    done = run(project, dict(env, ASYNC_TEST_PG_CLUSTER=pg_cluster), "--only", "integration", "--no-coverage")
    assert done.returncode == 0, output(done)
    log = done.stdout
    header = next(line for line in log.splitlines()  # the plugin's header, not the runner's progress line
                  if line.startswith("async-test: PostgreSQL") and "started in the background" not in line)
    assert ", ready in " in header and "(url" not in header, header  # its source and start time, as if started here


def test_only_one_pass_does_not_check_the_suites_own_minimum(tmp_path, env):
    """`--only unit` on a project whose integration tests bring coverage over its fail_under."""
    project = write(tmp_path / "svc", {"pyproject.toml": PYPROJECT_FAIL_UNDER_95, "app/__init__.py": "",
                                       "app/core.py": CORE, "tests/unit/test_core_unit.py": TEST_UNIT,
                                       "tests/integration/test_core_integration.py": TEST_INTEGRATION})
    done = run(project, env, "--only", "unit")
    assert done.returncode == 0, output(done)
    s = summary_of(project)
    assert s["coverage"]["thresholds"]["combined"] is None and s["coverage"]["below_threshold"] == []
    assert "is for its whole suite: not checked with --only unit, which left 1 test(s) out" in done.stdout
    explicit = run(project, env, "--only", "unit", "--fail-under", "95")
    assert explicit.returncode == 4, output(explicit)  # asked for on the command line: checked
