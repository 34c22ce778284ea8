"""`async-test run` end to end on the example suites: exit codes, every results file, the numbers."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from helpers import EXAMPLE, REPO, assert_summary_round_trip, postgres_processes

SUITES = REPO / "examples" / "suites"
SCHEMA = json.loads((REPO / "docs" / "summary.schema.json").read_text())
RESULT_FILES = ["junit-unit.xml", "junit-integration.xml", "coverage-unit.xml", "coverage-integration.xml",
                "coverage.xml", "coverage.json", ".coverage", ".coverage.unit",
                ".coverage.integration", "summary.json", "summary.md", ".gitignore"]


@pytest.fixture
def env(pg_cluster):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_")) and k != "DATABASE_URL"}
    clean["ASYNC_TEST_PG_CLUSTER"] = pg_cluster
    return clean


def copy_project(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".async-test", ".pytest_cache"))
    return target


def run(project: Path, env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def summary_of(project: Path, results: str = ".async-test"):
    data = json.loads((project / results / "summary.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert_summary_round_trip(project / results / "summary.json")
    return data


def tree_hash(root: Path, skip: str = ".async-test") -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == skip:
            continue
        digest.update(str(rel).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def line_of(path: Path, marker: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text)


def test_green_service_writes_every_result_and_leaves_the_tree_alone(tmp_path, env):
    project = copy_project(EXAMPLE.parent, tmp_path) / "backend"
    (tmp_path / ".git").mkdir()  # a repository root (all the harness looks for): report paths are repo-relative
    before = tree_hash(project)
    done = run(project, env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = project / ".async-test"
    for name in RESULT_FILES:
        assert (results / name).is_file(), name
    assert (results / ".gitignore").read_text() == "*\n"
    s = summary_of(project)
    assert s["exit"] == {"code": 0, "name": "ok", "reason": "all selected tests passed"}
    assert s["passes"]["unit"]["counts"]["passed"] == 6 and s["passes"]["integration"]["counts"]["passed"] == 7
    assert s["passes"]["unit"]["status"] == s["passes"]["integration"]["status"] == "passed"
    assert s["environment"]["postgresql"] and s["environment"]["sqlalchemy"]
    assert {"unit_pass", "integration_pass", "database_start", "coverage", "total"} <= set(s["phases"])
    cov = s["coverage"]
    assert 0 < cov["unit"]["percent"] < cov["combined"]["percent"] and cov["integration"]["percent"] > 0
    by_path = {f["path"]: f for f in cov["files"]}
    users = by_path["service/backend/src/myservice/services/users.py"]
    assert users["unit_only"], "deactivate_all is reached by mocked unit tests only"
    assert users["integration_only"], "create() commits: only the integration tests reach it"
    # junit with file and line attributes (xunit1), coverage with repository-relative paths
    assert 'file="src/tests/unit/test_auth_service.py"' in (results / "junit-unit.xml").read_text()
    assert 'filename="service/backend/src/myservice/models.py"' in (results / "coverage.xml").read_text()
    assert "# async-test: all selected tests passed (exit 0)" in (results / "summary.md").read_text()
    assert "async-test summary" in done.stdout and "combined" in done.stdout
    assert not (results / "html").exists() and "coverage_html" not in s["files"]  # on request only
    # ... then written from the results folder, lines marked by the pass that ran them
    # from the repository's top, as async-test run itself finds backend/ from there
    html = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "html"], cwd=project.parent,
                          capture_output=True, text=True, timeout=120)
    assert html.returncode == 0 and html.stdout.strip() == str(results / "html" / "index.html"), html.stderr
    page = next(p for p in (results / "html").glob("*users_py.html"))
    assert "integration" in page.read_text() and "unit" in page.read_text()
    # each line classed by who ran it (coverage_html), the test files out of the report and its total
    assert re.search(r'<p class="[^"]*\bat-unit\b', page.read_text()), "deactivate_all: mocked unit tests only"
    assert re.search(r'<p class="[^"]*\bat-integration\b', page.read_text()), "create(): integration tests only"
    index = (results / "html" / "index.html").read_text()
    assert "async-test-legend" in index and "test file(s) left out" in index and "test_auth_service" not in index
    with_tests = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "html", "--include-tests"],
                                cwd=project.parent, capture_output=True, text=True, timeout=120)
    assert with_tests.returncode == 0, with_tests.stderr
    index = (results / "html" / "index.html").read_text()
    assert "test_auth_service" in index and "left out" not in index
    assert tree_hash(project) == before, "async-test run changed files outside its results folder"


def test_html_with_the_run_and_a_clear_error_without_one(tmp_path, env):
    project = copy_project(SUITES / "unit_only", tmp_path)
    done = run(project, env, "--html")
    assert done.returncode == 0, done.stdout[-3000:]
    assert (project / ".async-test" / "html" / "index.html").is_file()
    assert summary_of(project)["files"]["coverage_html"] == "html/index.html"
    missing = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "html", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "cannot write the HTML report" in missing.stderr
    assert "async-test html path/to/.async-test" in missing.stderr


def test_failures_are_located_inside_the_project(tmp_path, env):
    project = copy_project(SUITES / "failing", tmp_path)
    done = run(project, env)
    assert done.returncode == 1, done.stdout[-3000:]
    s = summary_of(project)
    assert s["exit"]["name"] == "tests_failed"
    unit, integration = s["passes"]["unit"], s["passes"]["integration"]
    assert unit["counts"] == {"passed": 1, "failed": 1, "errors": 0, "skipped": 1, "xfailed": 1, "xpassed": 0,
                              "total": 4}
    assert integration["counts"]["failed"] == 1 and integration["counts"]["errors"] == 1
    assert integration["counts"]["passed"] == 1
    failures = {f["nodeid"].rsplit("::", 1)[1]: f for f in unit["failures"] + integration["failures"]}
    wrong = failures["test_wrong_expectation"]
    assert (wrong["file"], wrong["line"], wrong["kind"], wrong["when"]) == (
        "tests/unit/test_pricing_unit.py", line_of(project / "tests/unit/test_pricing_unit.py", "UNIT-FAILS-HERE"),
        "unit", "call")
    assert "assert 3 == 4" in wrong["message"]
    db = failures["test_prices_from_db"]
    assert (db["file"], db["line"]) == ("app/pricing.py", line_of(project / "app/pricing.py", "FAILS-HERE"))
    assert db["message"].startswith("ValueError: no prices") and db["kind"] == "integration"
    setup = failures["test_setup_error"]
    assert setup["when"] == "setup" and setup["line"] == line_of(
        project / "tests/integration/test_pricing_db.py", "SETUP-FAILS-HERE")
    assert "failing/app/pricing.py" in db["repo_path"] or db["repo_path"] == "app/pricing.py"


@pytest.mark.parametrize("suite, empty_pass, ran_pass", [("unit_only", "integration", "unit"),
                                                         ("integration_only", "unit", "integration")])
def test_a_pass_with_no_tests_is_empty_not_failed(tmp_path, env, suite, empty_pass, ran_pass):
    project = copy_project(SUITES / suite, tmp_path)
    done = run(project, env)
    assert done.returncode == 0, done.stdout[-3000:]
    s = summary_of(project)
    assert s["passes"][empty_pass]["status"] == "empty" and s["passes"][ran_pass]["status"] == "passed"


def test_no_tests_at_all_exits_5(tmp_path, env):
    project = copy_project(SUITES / "empty", tmp_path)
    done = run(project, env)
    assert done.returncode == 5
    assert summary_of(project)["exit"]["name"] == "no_tests"


def test_syntax_error_is_a_collection_failure_and_the_rest_is_reported(tmp_path, env):
    project = copy_project(SUITES / "broken", tmp_path)
    done = run(project, env)
    assert done.returncode == 1, done.stdout[-3000:]
    s = summary_of(project)
    unit = s["passes"]["unit"]
    assert unit["status"] == "failed"
    collect = [f for f in unit["failures"] if f["when"] == "collect"]
    assert collect and collect[0]["file"] == "tests/test_syntax.py" and "SyntaxError" in collect[0]["traceback"]


def test_broken_conftest_is_a_configuration_error(tmp_path, env):
    project = copy_project(SUITES / "unit_only", tmp_path)
    (project / "conftest.py").write_text("import no_such_module_anywhere\n")
    done = run(project, env)
    assert done.returncode == 2
    assert "no_such_module_anywhere" in done.stdout + done.stderr
    assert summary_of(project)["exit"]["name"] == "usage_error"


def test_unit_pass_blocks_the_database(tmp_path, env):
    project = copy_project(SUITES / "unit_only", tmp_path)
    (project / "tests" / "test_sneaky.py").write_text(
        "import os, asyncpg\n\nasync def test_connects():\n    await asyncpg.connect(os.environ['DATABASE_URL'])\n")
    done = run(project, env)
    assert done.returncode == 1
    failure = summary_of(project)["passes"]["unit"]["failures"][0]
    assert "DatabaseBlockedError" in failure["message"] and "tests/test_sneaky.py::test_connects" in failure["message"]


def test_coverage_matches_a_direct_coverage_py_measurement(tmp_path, env):
    project = copy_project(EXAMPLE.parent, tmp_path) / "backend"
    assert run(project, env).returncode == 0
    ours = summary_of(project)["coverage"]["combined"]
    direct_env = dict(env, COVERAGE_FILE=str(tmp_path / ".coverage.direct"), PYTHONDONTWRITEBYTECODE="1")
    # Measured as the harness measures when the project sets no concurrency (greenlet, thread: SQLAlchemy's
    # async layer runs in greenlets, and thread-only tracing loses lines after an await: issue 22 item 7).
    subprocess.run([sys.executable, "-m", "coverage", "run", "--source=src", "--concurrency=greenlet,thread",
                    "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, env=direct_env, check=True,
                   capture_output=True)
    report = subprocess.run([sys.executable, "-m", "coverage", "json", "-o", str(tmp_path / "direct.json")],
                            cwd=project, env=direct_env, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    direct = json.loads((tmp_path / "direct.json").read_text())["totals"]
    assert ours["statements"] == direct["num_statements"]
    assert ours["covered_lines"] == direct["covered_lines"]


def test_xdist_in_the_integration_pass_keeps_coverage(tmp_path, env):
    project = copy_project(EXAMPLE.parent, tmp_path) / "backend"
    assert run(project, env, "--results-dir", str(project / "serial")).returncode == 0
    done = run(project, env, "--integration-args=-n 2", "--results-dir", str(project / "parallel"))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "[gw1]" in done.stdout or "2 workers" in done.stdout
    serial, xdist = summary_of(project, "serial"), summary_of(project, "parallel")
    assert xdist["passes"]["integration"]["counts"]["passed"] == 7
    assert xdist["coverage"]["integration"] == serial["coverage"]["integration"]


def test_thresholds(tmp_path, env):
    project = copy_project(SUITES / "unit_only", tmp_path)
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("def used():\n    return 1\n\n\ndef unused():\n    return 2\n")
    (project / "tests" / "test_pkg.py").write_text(
        "from pkg import used\n\n\ndef test_used():\n    assert used() == 1\n")
    done = run(project, dict(env, PYTHONPATH=str(project)), "--fail-under", "100", "--fail-under-unit", "1",
               "--cov-source", "pkg")
    s = summary_of(project)
    assert s["coverage"]["combined"]["percent"] < 100
    assert done.returncode == 4 and s["exit"]["name"] == "coverage_below_threshold"
    assert s["coverage"]["below_threshold"] == [f"combined coverage {s['coverage']['combined']['percent']:.2f}% < 100%"]


def test_unwritable_results_folder_is_a_usage_error(tmp_path, env):
    project = copy_project(SUITES / "unit_only", tmp_path)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    done = run(project, env, "--results-dir", str(blocker / "results"))
    assert done.returncode == 2
    assert "is not writable" in done.stdout and "--results-dir" in done.stdout


def test_hanging_test_is_stopped_by_the_timeout(tmp_path, env):
    project = copy_project(SUITES / "unit_only", tmp_path)
    (project / "tests" / "test_hang.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(600)\n")
    done = run(project, dict(env, ASYNC_TEST_TIMEOUT="2"), timeout=120)
    assert done.returncode == 1
    failure = summary_of(project)["passes"]["unit"]["failures"][0]
    assert "exceeded the per-test timeout of 2s" in failure["message"]


def test_database_dying_mid_run_is_an_infrastructure_failure(tmp_path, env):
    project = copy_project(SUITES / "integration_only", tmp_path)
    (project / "tests" / "test_kill.py").write_text(
        "import os, signal\nfrom pathlib import Path\nfrom sqlalchemy import text\n\n"
        "async def test_zz_kill_server(async_db_session):\n"
        "    data = await async_db_session.scalar(text('SHOW data_directory'))\n"
        "    os.kill(int(Path(data, 'postmaster.pid').read_text().split()[0]), signal.SIGKILL)\n"
    )
    done = run(project, env)
    assert done.returncode == 3, done.stdout[-3000:]
    s = summary_of(project)
    assert s["exit"]["name"] == "infrastructure_error"
    assert "PostgreSQL stopped during the integration pass" in s["infrastructure_error"]["message"]


def test_sigterm_stops_cleanly_with_partial_results(tmp_path, env, private_pg_workdir):
    project = copy_project(SUITES / "integration_only", tmp_path)
    (project / "tests" / "test_slow.py").write_text(
        "import time\nfrom pathlib import Path\n\n"
        "async def test_slow(async_db_session):\n    Path('started').write_text('x')\n    time.sleep(120)\n")
    env = dict(env, ASYNC_TEST_PG_WORKDIR=private_pg_workdir)
    proc = subprocess.Popen([sys.executable, "-m", "async_test_harness.cli", "run", str(project)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (project / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the slow test never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:]
    s = summary_of(project)
    assert s["exit"]["name"] == "interrupted" and s["passes"]["integration"]["status"] == "interrupted"
    assert (project / ".async-test" / "junit-integration.xml").exists()
    deadline = time.monotonic() + 30
    while postgres_processes(under=private_pg_workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not postgres_processes(under=private_pg_workdir), "PostgreSQL outlived the interrupted run"


def test_a_transaction_left_open_is_reported(tmp_path, env):
    project = copy_project(SUITES / "integration_only", tmp_path)
    (project / "tests" / "test_leak.py").write_text(
        "import os, asyncpg\n\nLEAKED = []\n\n"
        "async def test_leaves_a_transaction_open(async_db_session):\n"
        "    conn = await asyncpg.connect(os.environ['DATABASE_URL'])\n"
        "    await conn.execute('BEGIN')\n"
        "    await conn.execute('SELECT 1')\n"
        "    LEAKED.append(conn)\n"
    )
    done = run(project, env)
    assert done.returncode == 0, done.stdout[-3000:]
    warnings = summary_of(project)["passes"]["integration"]["warnings"]
    assert warnings and "still open inside a transaction" in warnings[0]
    assert warnings[0].startswith("1 connection(s)"), "only the leaked one: the harness's own connection is not counted"
    assert "warning (integration)" in done.stdout


def test_bytecode_goes_to_the_cache_never_the_tree_and_the_users_choice_wins(tmp_path, env):
    """A venv without bytecode (uv's default) compiled every import on every run under the old
    PYTHONDONTWRITEBYTECODE; the cache keeps it between runs, outside the project. (This venv has
    bytecode, so the default writes none: tests/unit/test_bytecode.py covers that choice.)"""
    project = copy_project(EXAMPLE.parent, tmp_path) / "backend"
    home = tmp_path / "cache-home"
    env = {k: v for k, v in env.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    done = run(project, dict(env, XDG_CACHE_HOME=str(home), ASYNC_TEST_BYTECODE_CACHE=str(home / "bc")),
               "--no-coverage")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert not list(project.rglob("__pycache__")), "bytecode was written into the project"
    mirror = home / "bc" / str(project.resolve()).lstrip("/")
    compiled = [p.relative_to(mirror) for p in mirror.rglob("*.pyc")]
    assert any("test_" in p.name for p in compiled), compiled  # the tests (pytest's rewritten modules)
    assert any(p.parts[:2] == ("src", "myservice") for p in compiled), compiled  # the code under test

    other = tmp_path / "other-home"
    from async_test_harness.runner.bytecode import installed_without_bytecode

    cases = [{"PYTHONDONTWRITEBYTECODE": "1"}, {"ASYNC_TEST_BYTECODE_CACHE": "off"}]
    if not installed_without_bytecode(sys.executable):
        cases.append({})  # an environment with bytecode: it is read, and nothing is written
    for variables in cases:
        done = run(project, dict(env, XDG_CACHE_HOME=str(other), **variables), "--no-coverage")
        assert done.returncode == 0, done.stdout[-3000:]
        assert not (other / "async-test" / "pycache").exists(), variables
        assert not list(project.rglob("__pycache__"))
