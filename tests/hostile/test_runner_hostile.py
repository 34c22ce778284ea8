"""`async-test run` against hostile inputs (issue 12, "Hardening"): the real command, as a subprocess,
on small projects written into tmp_path.

What each test holds the runner to: a bad input is refused with one paragraph and exit 2 before
anything is touched; no user file is ever deleted or overwritten; any text a test produces is
written into valid files; a result file is whole or absent; two runs never share a folder; an
interrupted pass ends without a traceback. Most runs use ``--only unit`` (no PostgreSQL); those
that need the integration pass use the session's pre-initialised cluster.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import jsonschema
import pytest

from helpers import REPO, assert_summary_round_trip, write_files

SCHEMA = json.loads((REPO / "docs" / "summary.schema.json").read_text())
INI = "[pytest]\nasyncio_mode = auto\naddopts = -p no:randomly -p no:cacheprovider\n"
PASSING = {"pytest.ini": INI, "tests/test_ok.py": "def test_ok():\n    assert True\n"}


@pytest.fixture
def env(pg_cluster: str) -> Dict[str, str]:
    """The caller's environment without anything that would configure the harness, pytest or coverage."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_", "PYTEST_")) and k != "DATABASE_URL"}
    clean["ASYNC_TEST_PG_CLUSTER"] = pg_cluster
    return clean


write = write_files


def command(project: Path, *args: str) -> List[str]:
    return [sys.executable, "-m", "async_test_harness.cli", "run", str(project), *args]


def run(project: Path, env: Dict[str, str], *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(project, *args), env=env, capture_output=True, text=True,  # type: ignore[call-overload]
                          errors="strict", timeout=300, **kwargs)


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout[-4000:] + done.stderr[-3000:]


def summary_of(results: Path) -> dict:
    data = json.loads((results / "summary.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, SCHEMA)
    assert_summary_round_trip(results / "summary.json")
    return data


def tree(root: Path, skip: Optional[str] = None) -> Dict[str, Optional[str]]:
    """Every path under root with a hash of its bytes (None for folders)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(root.rglob("*")) if skip is None or skip not in p.relative_to(root).parts}


def one_paragraph(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text, text
    return lines[0]


# ---------------------------------------------------------------- 5. what --results-dir accepts


USER_DOCS = {"docs/html/index.html": "<h1>my docs</h1>\n", "docs/unit.log": "my log\n",
             "docs/summary.md": "# my summary\n", "docs/index.md": "# docs\n"}


@pytest.mark.parametrize("folder", ["docs", "."])
def test_a_folder_with_user_files_is_refused_untouched(tmp_path, env, folder):
    """`--results-dir docs` deleted docs/html/ and docs/unit.log, overwrote docs/summary.md and hid docs/
    behind a .gitignore of `*`; `--results-dir .` did the same at the project's root."""
    project = write(tmp_path / "svc", {**PASSING, **USER_DOCS})
    before = tree(project)
    done = run(project, env, "--only", "unit", "--results-dir", str(project / folder))
    assert done.returncode == 2, output(done)
    message = one_paragraph(done.stdout + done.stderr)
    assert "already exists and holds files async-test did not write" in message
    assert "--results-dir" in message and "it has changed nothing here" in message
    assert tree(project) == before, "a refused results folder was changed"


def test_new_empty_and_own_folders_are_used_and_user_files_in_them_survive(tmp_path, env):
    project = write(tmp_path / "svc", PASSING)
    new = tmp_path / "out" / "new"
    assert run(project, env, "--only", "unit", "--results-dir", str(new)).returncode == 0
    assert (new / ".async-test-results").is_file() and (new / ".gitignore").read_text() == "*\n"
    assert summary_of(new)["exit"]["code"] == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(project, env, "--only", "unit", "--results-dir", str(empty)).returncode == 0
    assert (empty / ".async-test-results").is_file() and (empty / "summary.json").is_file()
    # A file someone put into a results folder is not ours: the next run leaves it alone.
    (new / "notes.txt").write_text("keep me\n")
    assert run(project, env, "--only", "unit", "--results-dir", str(new)).returncode == 0
    assert (new / "notes.txt").read_text() == "keep me\n"


def test_an_older_versions_results_folder_is_adopted(tmp_path, env):
    """Results folders written before the marker existed hold only our outputs: they keep working."""
    project = write(tmp_path / "svc", PASSING)
    legacy = project / ".async-test"
    write(legacy, {".gitignore": "*\n", "summary.json": json.dumps({"tool": {"name": "async-test"}}),
                   "summary.md": "# old\n", "junit-unit.xml": "<old/>", "html/index.html": "old",
                   ".pytest_cache/README.md": "old", ".coverage.unit.host.123.456": ""})
    done = run(project, env, "--only", "unit")
    assert done.returncode == 0, output(done)
    assert (legacy / ".async-test-results").is_file()
    assert summary_of(legacy)["exit"]["code"] == 0
    assert (legacy / "junit-unit.xml").read_text() != "<old/>"
    assert not (legacy / "html").exists()  # an earlier run's HTML report never passes for this run's


# ---------------------------------------------------------------- 7. one run per results folder


def test_a_second_run_on_the_same_folder_is_refused_and_the_first_completes(tmp_path, env):
    project = write(tmp_path / "svc", {
        "pytest.ini": INI,
        "tests/test_slow.py": "import time\nfrom pathlib import Path\n\n\ndef test_waits():\n"
                              "    Path('started').write_text('x')\n"
                              "    for _ in range(600):\n"
                              "        if Path('go').exists():\n            return\n"
                              "        time.sleep(0.1)\n    raise AssertionError('never released')\n",
    })
    results = project / ".async-test"
    first = subprocess.Popen(command(project, "--only", "unit"), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (project / "started").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run's test never started"
            time.sleep(0.1)
        before = tree(results)
        second = run(project, env, "--only", "unit")
        assert second.returncode == 2, output(second)
        message = one_paragraph(second.stdout + second.stderr)
        assert f"Another async-test run (pid {first.pid}" in message and "--results-dir" in message
        assert tree(results) == before, "the refused run changed the first run's folder"
    finally:
        (project / "go").write_text("x")
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out[-3000:]
    assert summary_of(results)["passes"]["unit"]["counts"]["passed"] == 1
    # The lock ends with its run: the next one goes ahead.
    assert run(project, env, "--only", "unit").returncode == 0


def test_the_lock_is_an_flock_on_a_file_in_the_folder(tmp_path, env):
    """What another tool can rely on: while a process holds LOCK_EX on .async-test.lock, no run writes."""
    project = write(tmp_path / "svc", PASSING)
    results = project / ".async-test"
    assert run(project, env, "--only", "unit").returncode == 0
    before = tree(results)
    with open(results / ".async-test.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = run(project, env, "--only", "unit")
    assert done.returncode == 2 and "is using the results folder" in done.stdout, output(done)
    assert tree(results) == before


# ---------------------------------------------------------------- 6. any text


HOSTILE_TESTS = r'''
import os
import sys

import pytest

BAD = os.fsdecode(b"\xff\xfe")  # lone surrogates, as Python decodes bytes that are not UTF-8


def test_surrogates_nul_and_raw_bytes_in_output():
    print("printed:", BAD, "nul:\x00", "esc:\x1b[31m")
    sys.stdout.flush()
    os.write(1, b"raw bytes \xff\xfe not utf-8\n")
    assert False, "message with " + BAD + " and \x00 NUL"


@pytest.mark.parametrize("value", [1, 2, 3], ids=["id" + BAD, "nul\x00id", "\udc80alone"])
def test_hostile_ids(value):
    assert value == 0, "\ud800 unpaired high surrogate"


def test_raises_with_bytes_in_the_exception():
    raise ValueError(BAD.encode("utf-8", "surrogateescape"))
'''


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_hostile_text_in_output_messages_and_ids_is_written_as_valid_utf8(tmp_path, env, mode):
    """A lone surrogate in a failure message crashed the run with UnicodeEncodeError (0-byte summary.md, exit 1).

    pytest escapes ids by default; this project turns that off, so the raw text reaches the runner.
    """
    project = write(tmp_path / "svc", {
        "pytest.ini": INI + "disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true\n",
        "tests/unit/test_hostile.py": HOSTILE_TESTS,
        "tests/integration/test_ok.py": "def test_ok():\n    pass\n",
    })
    args = ["--parallel"] if mode == "parallel" else ["--only", "unit"]
    done = subprocess.run(command(project, *args), env=env, capture_output=True, timeout=300)
    # pytest's own report repeats the test's raw bytes; the runner's lines are checked below.
    text = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, text[-4000:]
    assert "Traceback" not in text and "UnicodeEncodeError" not in text, text[-4000:]
    assert "result: tests failed (exit 1)" in text
    results = project / ".async-test"
    summary = json.loads((results / "summary.json").read_bytes().decode("utf-8"))
    for value in strings(summary):
        value.encode("utf-8")  # strict: a lone surrogate (escaped as \\udXXX in JSON) is not valid Unicode
    jsonschema.validate(summary, SCHEMA)
    assert_summary_round_trip(results / "summary.json")
    failures = summary["passes"]["unit"]["failures"]
    assert len(failures) == 5, failures
    ids = {f["nodeid"].split("::")[-1] for f in failures}
    # Undecodable bytes come back as the bytes they were; other lone surrogates as \\udXXX; NUL stays (JSON escapes it).
    assert {"test_hostile_ids[id\\xff\\xfe]", "test_hostile_ids[nul\x00id]", "test_hostile_ids[\\x80alone]"} <= ids, ids
    message = next(f for f in failures if f["nodeid"].endswith("test_surrogates_nul_and_raw_bytes_in_output"))
    assert "message with \\xff\\xfe and \x00 NUL" in message["message"]
    markdown = (results / "summary.md").read_bytes().decode("utf-8")
    assert "\x00" not in markdown and "\x1b" not in markdown
    assert "test_hostile_ids[id\\xff\\xfe]" in markdown and "message with \\xff\\xfe and \\x00 NUL" in markdown
    if mode == "parallel":
        (results / "unit.log").read_bytes()  # the pass's own bytes, kept as they came
        assert "── unit pass (log)" in text


def strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_a_project_folder_whose_name_is_not_utf8(tmp_path, env):
    """The header, the result line and summary.json all name the folder: its byte is shown, not a crash."""
    project = write(tmp_path / os.fsdecode(b"svc-\xff"), PASSING)
    done = subprocess.run(command(project, "--only", "unit"), env=env, capture_output=True, timeout=300)
    text = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, text[-4000:]
    assert "Traceback" not in text
    runner_lines = [line for line in done.stdout.split(b"\n") if line.startswith((b"async-test run", b"result:"))]
    assert len(runner_lines) == 2 and all(b"svc-\\xff" in line for line in runner_lines), runner_lines
    summary = json.loads((project / ".async-test" / "summary.json").read_bytes().decode("utf-8"))
    assert summary["project"]["root"].endswith("svc-\\xff")


# ---------------------------------------------------------------- 9. a full disk


def _file_size_limit(limit: int):
    def apply() -> None:
        # Writes past `limit` bytes fail with EFBIG, as a full disk fails them with ENOSPC (Python ignores
        # SIGXFSZ, so the write reports the error instead of killing the process).
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_results_that_cannot_be_written_give_one_message_one_exit_code_and_no_truncated_file(tmp_path, env):
    """Disk full: the console said "all selected tests passed (exit 0)", the process returned 3, and a
    truncated summary.json was left behind. Every other file of this run is smaller than the limit."""
    project = write(tmp_path / "svc", PASSING)
    results = project / ".async-test"
    done = run(project, env, "--only", "unit", "--no-coverage", preexec_fn=_file_size_limit(2000))
    assert done.returncode == 3, output(done)
    result_lines = [line for line in done.stdout.splitlines() if line.startswith("result:")]
    assert len(result_lines) == 1, done.stdout[-3000:]
    assert result_lines[0].startswith("result: infrastructure failure: could not write summary.json and summary.md")
    assert "(File too large)" in result_lines[0] and result_lines[0].endswith("(exit 3)")
    assert "all selected tests passed" not in done.stdout
    leftovers = sorted(p.name for p in results.iterdir())
    assert "summary.json" not in leftovers and "summary.md" not in leftovers, leftovers
    assert not [name for name in leftovers if "tmp" in name], leftovers


# ---------------------------------------------------------------- 13. bad option values


@pytest.mark.parametrize("args, names", [
    (["--unit-args", "it's"], "--unit-args"),
    (["--integration-args", '-k "unclosed'], "--integration-args"),
    (["--python", "/nope/python"], "--python /nope/python"),
    (["--cov-source", "nosuchdir"], "--cov-source nosuchdir"),
    (["--cov-source", "tests/test_ok.py"], "--cov-source tests/test_ok.py is a file"),
])
def test_a_bad_option_value_is_one_line_and_exit_2_before_anything_runs(tmp_path, env, args, names):
    """`--unit-args "it's"` and `--python /nope` ended in a traceback; `--cov-source nosuchdir` exited 0 with
    coverage "-"."""
    project = write(tmp_path / "svc", PASSING)
    done = run(project, env, "--only", "unit", *args)
    assert done.returncode == 2, output(done)
    line = one_paragraph(done.stdout + done.stderr)
    assert line.startswith("async-test: ") and names in line
    assert not (project / ".async-test").exists(), "a refused run created its results folder"


def test_a_relative_python_names_the_interpreter_from_where_the_command_was_typed(tmp_path, env):
    """`--python venv/bin/python` passed the check (found from the current folder), then every pass failed
    to start ("No such file or directory"): the passes start in the project's folder."""
    project = write(tmp_path / "svc", PASSING)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    interpreter = Path(sys.executable)  # this test's environment, seen from another folder
    (elsewhere / "venv").symlink_to(interpreter.parent.parent, target_is_directory=True)
    done = run(project, env, "--only", "unit", "--no-coverage", "--python", f"venv/{interpreter.parent.name}/"
               f"{interpreter.name}", cwd=elsewhere)
    assert done.returncode == 0, output(done)
    assert "result: all selected tests passed (exit 0)" in done.stdout


# ---------------------------------------------------------------- 14. what the passes' exit codes say


def test_a_pass_killed_after_other_failures_is_named_in_the_result(tmp_path, env):
    """pytest killed mid-pass read as "tests failed (exit 1)" whenever the other pass had a failure to list."""
    project = write(tmp_path / "svc", {
        "pytest.ini": INI,
        "tests/unit/test_fails.py": "def test_fails():\n    assert 1 == 2\n",
        "tests/integration/test_killed.py": "import os, signal\n\n\ndef test_killed():\n"
                                            "    os.kill(os.getpid(), signal.SIGKILL)\n",
    })
    done = run(project, env)
    assert done.returncode == 1, output(done)
    summary = summary_of(project / ".async-test")
    assert summary["passes"]["integration"]["status"] == "error"
    reason = summary["exit"]["reason"]
    assert reason.startswith("tests failed; integration pass: pytest was killed by SIGKILL"), reason
    assert f"result: {reason} (exit 1)" in done.stdout
    assert (project / ".async-test" / "summary.md").read_text().startswith(f"# async-test: {reason} (exit 1)")


def test_a_module_that_fails_to_collect_is_listed_once_for_both_passes(tmp_path, env):
    project = write(tmp_path / "svc", {"pytest.ini": INI, "tests/test_broken.py": "def broken(:\n",
                                       "tests/test_ok.py": "def test_ok():\n    pass\n"})
    done = run(project, env)
    assert done.returncode == 1, output(done)
    summary = summary_of(project / ".async-test")
    unit, integration = summary["passes"]["unit"], summary["passes"]["integration"]
    assert unit["counts"]["errors"] == integration["counts"]["errors"] == 1, "each pass still counts what it saw"
    listed = unit["failures"] + integration["failures"]
    assert len(listed) == 1 and listed[0]["when"] == "collect", listed
    assert listed[0]["passes"] == ["unit", "integration"]
    markdown = (project / ".async-test" / "summary.md").read_text()
    assert len([line for line in markdown.splitlines() if "tests/test_broken.py" in line]) == 1
    assert "(unit and integration passes, collect)" in markdown


# ---------------------------------------------------------------- 16. leftovers


def test_ctrl_c_while_the_integration_pass_starts_ends_without_a_traceback(tmp_path, env):
    """A terminal's Ctrl-C reaches the whole process group; one landing while pytest was still importing
    printed a KeyboardInterrupt traceback (and one landing just before it started left it running)."""
    project = write(tmp_path / "svc", {
        "pytest.ini": INI,
        "tests/integration/test_slow.py": "import time\n\n\ndef test_slow():\n    time.sleep(120)\n",
    })
    for delay in (0.0, 0.05, 0.15, 0.3):
        proc = subprocess.Popen(command(project), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        assert proc.stdout is not None
        seen = b""
        while b"integration pass" not in seen and b"integration tests (one pytest session)" not in seen:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, seen.decode(errors="replace")[-3000:]
            seen += chunk
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"the run went on after Ctrl-C {delay}s into the integration pass")
        text = (seen + rest).decode(errors="replace")
        assert proc.returncode == 130, text[-3000:]
        assert "Traceback" not in text, f"Ctrl-C {delay}s into the integration pass:\n{text[-3000:]}"
        assert summary_of(project / ".async-test")["passes"]["integration"]["status"] == "interrupted"


def test_an_empty_environment_value_unsets_the_ini_value(tmp_path, env):
    """`ASYNC_TEST_METADATA=` fell through to the ini's value: here a schema that cannot be built (exit 3)."""
    project = write(tmp_path / "svc", {
        "pytest.ini": INI + "async_test_metadata = nosuch.models:Base\n",
        "tests/integration/test_db.py": "async def test_db(async_db_session):\n    pass\n",
    })
    done = run(project, dict(env, ASYNC_TEST_METADATA=""), "--only", "integration")
    assert done.returncode == 0, output(done)
    assert run(project, env, "--only", "integration").returncode == 3, "without the variable the ini applies"


def test_a_one_line_reason_keeps_the_cause_that_follows_last_lines(tmp_path, env):
    """The exit reason was the message's first line: "... failed (exit 1). Last lines:", the cause cut off."""
    project = write(tmp_path / "svc", {
        "pytest.ini": INI + "async_test_alembic_ini = alembic.ini\n",
        "alembic.ini": "[alembic]\nscript_location = migrations\n",
        "migrations/env.py": "raise RuntimeError('the migration cannot run: the cause is here')\n",
        "tests/integration/test_db.py": "async def test_db(async_db_session):\n    pass\n",
    })
    done = run(project, env, "--only", "integration")
    assert done.returncode == 3, output(done)
    reason = summary_of(project / ".async-test")["exit"]["reason"]
    assert "Last lines:" in reason and reason.endswith("RuntimeError: the migration cannot run: the cause is here")
    assert f"result: {reason} (exit 3)" in done.stdout
