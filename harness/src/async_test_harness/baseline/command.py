"""``async-test compare BASE HEAD`` and the run's ``--baseline DIR``: the baseline's two commands.

A missing or unusable baseline is never an error: the first run on a branch, an expired cache, a
baseline of another project or version all end in one line, ``no comparison: <why>``, exit 0 and a
report without the comparison. Only a HEAD that is not a results folder is a usage error (exit 2):
that one is the user's mistake to fix.

Exit codes of ``async-test compare``: without a gate option, 0 (compared, or nothing to compare
with); 2 usage (HEAD is not a results folder, an option's value is wrong). With a gate option
(``--fail-on``, ``--max-coverage-drop``, ``--fail-on-query-regressions``, ``--fail-on-flaky``) the
exit code is the job's verdict (gates.py): HEAD's own exit code, 1 turned into 0 when ``--fail-on
new`` finds every failure failing on the base too, 4 for a coverage drop beyond the maximum, 7 for
query regressions, 1 for a flaky test (several: the first of those, and the verdict line names them
all with their figures).

``... command store RESULTS DIR [--previous BASE]``: the action's step storing a push's baseline;
its flaky history continues BASE's (the baseline just restored), or DIR's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
from pathlib import Path
from typing import Callable, List, Optional, TextIO, Tuple

from . import BASELINE_FILE, COMPARISON_FILE
from .compare import Comparison, compare, console_lines, flaky_tests, none_document
from .gates import FAIL_ON, FAILED, GateError, Gates, parse_max_drop, verdict
from .markdown import flaky_lines, no_comparison, section, with_section
from .store import Baseline, Unusable, from_results, load, with_history, write

EXIT_OK = 0
EXIT_USAGE = 2


def mismatch(base: Baseline, head: Baseline) -> Optional[str]:
    """Why ``base`` is not a baseline of ``head``'s project, or None."""
    ours, theirs = head.source, base.source
    if ours.get("repository") and theirs.get("repository") and ours["repository"] != theirs["repository"]:
        return f"the baseline is of repository {theirs['repository']}, this run of {ours['repository']}"
    if ours.get("path_in_repo") != theirs.get("path_in_repo"):
        return (f"the baseline is of the project in {theirs.get('path_in_repo') or 'the repository root'!s}, "
                f"this run of the one in {ours.get('path_in_repo') or 'the repository root'!s}")
    if (base.tests or base.files) and (head.tests or head.files) and not (
            set(base.tests) & set(head.tests) or set(base.files) & set(head.files)):
        return "the baseline shares no test and no measured file with this run (a baseline of another project?)"
    return None


def previous_history(previous: Path, new: Baseline, say: Callable[[str], None]) -> Optional[Baseline]:
    """The baseline whose flaky history the new one continues (store.with_history): ``previous`` when
    it is one of the same project; otherwise None, said in one line (the history starts again)."""
    if not previous.exists():
        return None
    try:
        base = load(previous)
        why = mismatch(base, new)
    except Unusable as exc:
        why = str(exc)
    if why is not None:
        say(f"async-test: flaky history starts again: {why}")
        return None
    if base.history_note:
        say(f"async-test: flaky history starts again: {previous} {base.history_note}")
    return base


def store_after_run(results: Path, folder: Path, say: Callable[[str], None],
                    previous: Optional[Path] = None) -> None:
    """``async-test run --baseline DIR``: the baseline of the run just written, in ``folder``.

    Its flaky history continues ``previous``'s (default: the baseline already in ``folder``, which it
    replaces). A baseline that cannot be stored is said in one line: the run's own result stands.
    """
    try:
        new = from_results(results)
        before = previous_history(folder / BASELINE_FILE if previous is None else previous, new, say)
        path = write(folder, with_history(new, before))
    except Unusable as exc:
        say(f"async-test: baseline not stored: {exc}")
    except OSError as exc:
        say(f"async-test: baseline not stored in {folder}: {exc.strerror or exc}")
    else:
        say(f"async-test: baseline stored in {path}")


def after_run(results: Path, baseline_dir: Optional[str], compare_with: Optional[str],
              say: Callable[[str], None]) -> None:
    """``async-test run --baseline DIR --compare-with BASE``: after the run's summary, in its console.

    Compared first (with the base as it was), then stored; the run's exit code is its own: the gates
    are ``async-test compare``'s.
    """
    if compare_with:
        lines = io.StringIO()
        run_compare(Path(compare_with).resolve(), results, lines)
        for line in lines.getvalue().splitlines():
            say(line)
    if baseline_dir:
        store_after_run(results, Path(baseline_dir).resolve(), say)


def run_compare(base_path: Path, head_path: Path, out: TextIO, gates: Gates = Gates(),
                missing: str = "") -> int:
    """Compare and write ``comparison.json`` and summary.md's section into HEAD (a results folder).

    ``missing``: what to say when BASE does not exist (the action: no baseline in the cache).
    """
    writable = (head_path / "summary.json").is_file()
    try:
        head = from_results(head_path) if writable else load(head_path)
    except Unusable as exc:
        out.write(_console(f"HEAD {head_path} is not usable: {exc}. Give the results folder of a finished "
                           "async-test run (default PROJECT/.async-test) as the second argument."))
        return EXIT_USAGE
    try:
        if missing and not base_path.exists():
            raise Unusable(missing)
        base = load(base_path)
        why = mismatch(base, head)
    except Unusable as exc:
        why = str(exc)
    if why is not None:
        line = no_comparison(why)
        out.write(_console(line))
        flaky = flaky_tests(head)
        code, notes = verdict(head.exit_code, None, gates, flaky)
        for note in notes:
            out.write(_console(note))
        for name in flaky:
            out.write(_console(f"  flaky (failed, then passed on its re-run): {name}"))
        if writable:
            _write_head(head_path, None, [line, *notes, *flaky_lines(flaky)], why, flaky)
        return _said(out, code, notes) if gates.any_set else EXIT_OK
    if base.history_note:
        out.write(_console(f"the baseline's flaky history is ignored: {base.history_note}"))
    comparison = compare(base, head)
    code, notes = verdict(head.exit_code, comparison, gates, comparison.flaky)
    comparison = dataclasses.replace(comparison, notes=tuple(notes))
    for line in console_lines(comparison):
        out.write(_console(line))
    if writable:
        _write_head(head_path, comparison, section(comparison))
    return _said(out, code, notes) if gates.any_set else EXIT_OK


def _console(text: str) -> str:
    """One console line: test ids and paths are the tests' to choose, and a newline in one could start
    a line GitHub reads as a workflow command (``::error::``) in the action's log."""
    return "async-test: " + "".join(" " if c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" else c
                                    for c in text) + "\n"


def _said(out: TextIO, code: int, notes: List[str]) -> int:
    """The verdict's exit line: the code, and when it fails the job every reason that tripped."""
    failed = next((n for n in notes if n.startswith(FAILED)), "")
    out.write(_console(f"verdict: exit {code}" + (f" ({failed})" if failed else "")))
    return code


def _write_head(results: Path, comparison: Optional[Comparison], lines: List[str], why: str = "",
                flaky: Tuple[str, ...] = ()) -> None:
    """comparison.json (the reason, when there is nothing to compare with) and summary.md's section."""
    target = results / COMPARISON_FILE
    doc = none_document(why, flaky) if comparison is None else comparison.to_json()
    try:
        _atomic(target, json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
        summary_md = results / "summary.md"
        if summary_md.is_file():
            _atomic(summary_md, with_section(summary_md.read_text(encoding="utf-8", errors="replace"), lines))
    except OSError as exc:
        sys.stderr.write(f"async-test: could not write the comparison into {results}: {exc.strerror or exc}\n")


def _atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="async-test compare",
        description="Compare a run (HEAD, its results folder) with a baseline (BASE: a folder written by "
                    "async-test run --baseline DIR, or another run's results folder): coverage change combined, "
                    "per pass and per file, tests added and removed, new failures and failures also failing on "
                    "the base, query and time regressions. Writes comparison.json and a section of summary.md "
                    "into HEAD. No usable baseline is one line, 'no comparison: ...', and exit 0.",
        epilog="exit codes: 0 compared, or nothing to compare with; 2 HEAD is not a results folder or an option is "
               "wrong. With a gate option, the job's verdict: HEAD's exit code (1 tests failed, ...), 1 turned "
               "into 0 by --fail-on new when every failure also fails on the base, 4 coverage dropped beyond "
               "--max-coverage-drop, 7 query regressions with --fail-on-query-regressions")
    parser.add_argument("base", metavar="BASE", help="the baseline folder (or a results folder of the base run)")
    parser.add_argument("head", metavar="HEAD", help="the results folder of the run to report")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="any",
                        help="new: failing tests that also fail on the base do not fail the job (said loudly)")
    parser.add_argument("--max-coverage-drop", metavar="POINTS", default="",
                        help="the most coverage may fall below the base's: N for every figure, or per figure, "
                             "e.g. combined=0.5,unit=2 (exit 4 beyond it)")
    parser.add_argument("--fail-on-query-regressions", action="store_true",
                        help="exit 7 when a test's SQL statements grew beyond x2 and +5")
    parser.add_argument("--fail-on-flaky", action="store_true",
                        help="exit 1 when a test failed, then passed on its re-run (flaky)")
    parser.add_argument("--missing", metavar="TEXT", default="",
                        help="what to say when BASE does not exist (default: that it does not)")
    return parser


def store_main(argv: List[str], out: TextIO) -> int:
    """``python3 -m async_test_harness.baseline.command store RESULTS DIR``: the action's step that
    stores the baseline of a results folder the container wrote (the run itself had no --baseline)."""
    parser = argparse.ArgumentParser(prog="async-test-baseline store")
    parser.add_argument("results", metavar="RESULTS", help="the results folder of a finished run")
    parser.add_argument("folder", metavar="DIR", help="the baseline folder to write baseline.json into")
    parser.add_argument("--github-output", metavar="PATH", default="",
                        help="append stored=true|false to this file (the step's outputs)")
    parser.add_argument("--previous", metavar="BASE", default="",
                        help="the baseline whose flaky history this one continues (default: the one in DIR); "
                             "missing or unusable: the history starts again, said in one line")
    args = parser.parse_args(argv)
    lines: List[str] = []
    store_after_run(Path(args.results), Path(args.folder), lines.append,
                    Path(args.previous) if args.previous else None)
    for line in lines:
        out.write(_console(line.replace("async-test: ", "", 1)))
    if args.github_output:
        stored = any(line.startswith("async-test: baseline stored") for line in lines)
        with open(args.github_output, "a", encoding="utf-8") as handle:
            handle.write(f"stored={'true' if stored else 'false'}\n")
    return EXIT_OK


def main(argv: List[str], out: TextIO = sys.stdout) -> int:
    if argv[:1] == ["store"]:
        return store_main(argv[1:], out)
    args = build_parser().parse_args(argv)
    try:
        gates = Gates(args.fail_on, parse_max_drop(args.max_coverage_drop), args.fail_on_query_regressions,
                      args.fail_on_flaky)
    except GateError as exc:
        out.write(_console(str(exc)))
        return EXIT_USAGE
    return run_compare(Path(args.base), Path(args.head), out, gates, args.missing)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
