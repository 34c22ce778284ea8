"""The baseline: what one run leaves behind for later runs to be compared with (issue 25).

A pull request's report says what the pull request changed only if it has something to compare
with: the default branch's last run. ``async-test run --baseline DIR`` stores it, ``async-test
compare BASE HEAD`` compares two runs, the action keeps it in its cache.

The baseline is a FOLDER (its name is the user's). Layout, format version ``FORMAT_VERSION``:

``baseline.json`` (``BASELINE_FILE``)
    written by ``store.write``; the document below. Rewritten whole (temporary file, then rename).
``testmap.json`` (``TESTMAP_FILE``)
    which tests ran which files: written and read by the affected-tests feature (issue 26), never
    by this package, which leaves it (and any other file in the folder) alone.

``baseline.json`` (every key always present; readers ignore keys they do not know, so a later
version may add keys without raising the format version; removing or changing one raises it)::

    {
      "format": "async-test-baseline",          # FORMAT_NAME: what the file is
      "format_version": 1,                       # FORMAT_VERSION: readers refuse any other
      "tool": {"name": "async-test", "version": "0.9.0"},
      "created_at": "2026-12-06T01:00:00+00:00", # when the baseline was stored (UTC)
      "source": {                                # the run it was made from; null where unknown
        "repository": "owner/name" | null,       # GITHUB_REPOSITORY when stored
        "branch": "main" | null,                 # ASYNC_TEST_BASELINE_BRANCH, GITHUB_HEAD_REF, GITHUB_REF_NAME
        "commit": "40 hex" | null,               # GITHUB_SHA (ASYNC_TEST_BASELINE_COMMIT wins)
        "path_in_repo": "backend" | "",          # the project's folder in its repository
        "started_at": "...", "duration_seconds": 12.3
      },
      "exit": {"code": 0, "name": "ok"},
      "passes": {"unit": PASS, "integration": PASS},  # PASS: {"status", "duration_seconds", "counts"}
      "coverage": {
        "unit": 61.0 | null, "integration": 80.0 | null, "combined": 87.2 | null,   # percent
        "files": {"src/app/x.py": [statements, unit_covered, integration_covered, covered]}
      },
      "tests": {"tests/test_x.py::test_a": [kind, outcome, seconds, statements]},  # + 1: flaky
      "flaky_history": [                          # added later: no new version (readers ignore unknown keys)
        {"commit": "40 hex" | null, "created_at": "...", "flaky": ["tests/test_x.py::test_a"]}
      ]
    }

A test row has a fifth element, ``1``, when the test was flaky (failed, then passed on its re-run:
plugin/rerun.py). Readers ignore a row's elements after those they know, as they ignore unknown keys,
so a later version may append one without a new format version.

``flaky_history`` is the flaky tests of the last ``FLAKY_HISTORY_RUNS`` runs that stored a
baseline (the default branch's pushes in the action), newest first, this run's first: storing a
baseline merges the previous one's history (the baseline restored from the cache, or the one already
in the folder), so one restored baseline carries them all though the cache keeps only the newest.
Runs are keyed by commit: a commit stored again replaces its entry instead of counting twice (a
run with no known commit is an entry of its own). A test flaky in at least ``KNOWN_FLAKY_RUNS`` of
them is **known-flaky**. A baseline without the key (stored before it existed) counts as a history
of its own run alone. A history that is not a list of such entries, or holds more than
``MAX_HISTORY_ENTRIES`` entries or an entry of more than ``MAX_HISTORY_IDS`` ids, is ignored, said in
one line: the baseline then counts as its own run alone (the rest of it is still used).

A test's ``outcome`` is one of ``OUTCOMES`` (``error``: its set-up or teardown failed, or its module
did not collect); ``seconds`` is its set-up, call and teardown together; ``statements`` the
SQL statements it executed through the harness's engines (0 when none were counted). File paths
are relative to the repository root, as in summary.json. A 2,000-test suite stores 110-160 KB
(benchmarks/baseline.py).

Standard library only: the report runs outside the test container with nothing installed.
"""

from __future__ import annotations

FORMAT_NAME = "async-test-baseline"
FORMAT_VERSION = 1
BASELINE_FILE = "baseline.json"
TESTMAP_FILE = "testmap.json"  # issue 26's file in the same folder; not read or written here
COMPARISON_FILE = "comparison.json"  # what `async-test compare` writes into the head's results folder
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
FAILING = frozenset({"failed", "error"})
FLAKY_HISTORY_RUNS = 10  # the runs a baseline's flaky history keeps (newest first)
KNOWN_FLAKY_RUNS = 2  # flaky in at least this many of them: known-flaky
MAX_HISTORY_ENTRIES = 100  # a stored history longer than this is hostile: ignored, not truncated
MAX_HISTORY_IDS = 10_000  # one run's flaky ids beyond this: hostile, the history is ignored
