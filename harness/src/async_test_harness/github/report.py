"""``async-test report``: annotations, job summary, outputs and the sticky comment from summary.json.

Runs on the runner with the token; reads only the results folder and the event payload. The
results folder is the tests' to write, so summary.json is untrusted input: it is read by
``Summary.read`` (any bytes, printable strings, checked against the published schema)
before anything in it is used, and a document that does not match is named in one error
annotation, never shown. Exit status: 0 when the report was written, 1 when summary.json is
missing, unreadable or invalid (or a part of the report failed); the job's result is the tests'.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, TextIO

from ..baseline.compare import NOT_COMPARED, Compared, read_comparison
from ..summary.model import SCHEMA_VERSION, CoverageFigure, Summary
from ..summary.validate import Invalid
from .annotations import build_annotations
from .commands import command, lines, write_outputs, write_raw
from .comment import CommentError, GitHubClient
from .diffcov import DiffCoverage, DiffUnavailable, changed_lines, diff_coverage
from .files_table import links_from
from .markdown import COMMENT_LIMIT, COMMENT_MARKER, JOB_SUMMARY_LIMIT, fit, no_results

SUPPORTED_SCHEMA = SCHEMA_VERSION
NO_RESULTS = {"summary-path": "", "tests": "0", "failures": "0"}


def _event(env: Dict[str, str]) -> Dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    try:
        return dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return {}


def _diff(summary: Summary, event: Dict[str, Any], repo: Path,
          notes: List[str]) -> tuple[Optional[DiffCoverage], Set[str]]:
    base = (event.get("pull_request") or {}).get("base", {}).get("sha")
    if not base:
        return None, set()
    try:
        changed = changed_lines(repo, base, (event.get("pull_request") or {}).get("head", {}).get("sha") or "HEAD")
    except DiffUnavailable as exc:
        notes.append(f"Diff coverage skipped: {exc}")
        return None, set()
    return diff_coverage(summary.coverage.files, changed), set(changed)


def _refuse(stream: TextIO, env: Dict[str, str], title: str, message: str) -> int:
    """No usable summary: one error annotation, the same words in the job summary, empty outputs."""
    stream.write(lines([command("error", message, {"title": title})]))
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(no_results(message))
    write_outputs(env.get("GITHUB_OUTPUT"), NO_RESULTS)
    return 1


def _load(summary_path: Path, env: Dict[str, str], stream: TextIO) -> Optional[Summary]:
    try:
        return Summary.read(summary_path)
    except Invalid as exc:
        if exc.where == "schema_version":
            reason = (f"its schema_version is not the supported {SUPPORTED_SCHEMA} (an action and an image of "
                      "different versions?)")
        else:
            reason = f"it does not match docs/summary.schema.json at {exc}"
        _refuse(stream, env, "async-test: invalid summary.json",
                f"{summary_path}: {reason}. The tests can write to the results folder, so nothing from this file "
                "is shown and the report step fails.")
    except (OSError, ValueError) as exc:
        _refuse(stream, env, "async-test", f"no readable summary.json at {summary_path}: {exc}")
    return None


def _part(stream: TextIO, what: str, write: Callable[[], None]) -> bool:
    """Write one part of the report; a failure costs that part only, and is said in an annotation.

    The message names the exception's type, not its text: the text may quote the document.
    """
    try:
        write()
        return True
    except Exception as exc:
        stream.write(lines([command("error", f"async-test could not write the {what} ({type(exc).__name__}); "
                                    "the rest of the report is complete.", {"title": "async-test: report"})]))
        return False


def outputs_only(summary_path: Path, env: Dict[str, str], stream: TextIO) -> int:
    """A shard job of a matrix: the step outputs of its part, nothing people read.

    The report job (``mode: report``) annotates, summarises and comments once for the combined
    results; N shard jobs doing it too would repeat each failure and write N partial summaries.
    """
    try:
        summary = Summary.read(summary_path)
    except (Invalid, OSError, ValueError):
        # Said once by the report job, which combines this folder; here only the outputs are empty.
        write_outputs(env.get("GITHUB_OUTPUT"), NO_RESULTS)
        return 0
    return 0 if _part(stream, "step outputs", lambda: write_outputs(env.get("GITHUB_OUTPUT"),
                                                                 _outputs(summary, summary_path, None))) else 1


ARTIFACT_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/%?=&+-]*")


def artifact_link(url: str) -> str:
    """The job summary's last line: where the results folder was uploaded (upload-artifact's
    ``artifact-url`` output). Only a plain https URL is linked; anything else is left out."""
    if not ARTIFACT_URL.fullmatch(url):
        return ""
    return (f"\n**Results folder** (JUnit, coverage data, HTML report, badge.svg): "
            f"[download the artifact]({url})\n")


def report(summary_path: Path, env: Dict[str, str], stream: TextIO, annotate: bool = True,
           comment: bool = False, token: str = "", repo: Optional[Path] = None) -> int:
    summary = _load(summary_path, env, stream)
    if summary is None:
        return 1
    notes: List[str] = []
    event = _event(env)
    diff, changed = _diff(summary, event, repo or Path(env.get("GITHUB_WORKSPACE", ".")), notes)
    links = links_from(env, event)
    # The comparison with the base (issue 25), if `async-test compare` wrote one into the results folder.
    compared = read_comparison(summary_path.parent)
    ok = True

    def raw_output() -> None:
        for f in summary.failures:
            if f.output or f.traceback:
                # The test id is untrusted too: it goes inside the fence with the rest.
                write_raw(stream, f"--- {f.kind} failure: {f.nodeid}\n" + (f.traceback or "")
                          + ("\n" + f.output if f.output else ""))

    ok &= _part(stream, "tracebacks to the log", raw_output)
    number = (event.get("pull_request") or {}).get("number")
    if comment and number:
        if not token:
            notes.append("comment: true needs github-token; no comment was written")
        else:
            client = GitHubClient(env.get("GITHUB_API_URL", "https://api.github.com"), token,
                                  env.get("GITHUB_REPOSITORY", ""))
            try:
                client.upsert_comment(int(number), fit(summary, COMMENT_LIMIT, diff, prefix=COMMENT_MARKER + "\n",
                                                       links=links, compared=compared))
            except CommentError as exc:
                notes.append(f"Could not write the pull-request comment ({exc}); a fork's token is read-only, "
                             "so this is expected there. The job summary has the same content.")
            except Exception as exc:
                notes.append(f"Could not write the pull-request comment ({type(exc).__name__}). "
                             "The job summary has the same content.")
    if annotate:
        def annotations() -> None:
            stream.write(lines(build_annotations(summary, changed, diff, notes, comparison=compared[0])))

        ok &= _part(stream, "annotations", annotations)

    def step_summary() -> None:
        if env.get("GITHUB_STEP_SUMMARY"):
            link = artifact_link(env.get("ASYNC_TEST_ARTIFACT_URL", ""))
            with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write(fit(summary, JOB_SUMMARY_LIMIT - len(link.encode()), diff, links=links,
                                 compared=compared) + link)

    ok &= _part(stream, "job summary", step_summary)
    ok &= _part(stream, "step outputs", lambda: write_outputs(env.get("GITHUB_OUTPUT"),
                                                             _outputs(summary, summary_path, diff, compared)))
    return 0 if ok else 1


def _percent(figure: Optional[CoverageFigure]) -> str:
    return f"{figure.percent:.2f}" if figure else ""


def _outputs(summary: Summary, summary_path: Path, diff: Optional[DiffCoverage],
             compared: Compared = NOT_COMPARED) -> Dict[str, str]:
    counts = [p.counts for p in summary.passes]
    cov = summary.coverage
    return {
        "tests": str(sum(c.total for c in counts)),
        "failures": str(sum(c.failed + c.errors for c in counts)),
        "unit-coverage": _percent(cov.unit),
        "integration-coverage": _percent(cov.integration),
        "combined-coverage": _percent(cov.combined),
        "diff-coverage": f"{diff.percent:.2f}" if diff is not None and diff.percent is not None else "",
        "results-dir": str(summary_path.parent),
        "summary-path": str(summary_path),
        "exit-code": str(summary.exit.code),
        **_comparison_outputs(compared),
        **_affected_outputs(summary),
    }


def _affected_outputs(summary: Summary) -> Dict[str, str]:
    """select: affected (issue 26): "ran N of M", as two numbers; empty when every test ran (the
    ``tests`` output says how many) or the plugin could not count."""
    info = summary.affected
    if info is None or info.run_all or info.selected is None or info.collected is None:
        return {"affected-selected": "", "affected-collected": ""}
    return {"affected-selected": str(info.selected), "affected-collected": str(info.collected)}


def _comparison_outputs(compared: Compared) -> Dict[str, str]:
    """The comparison's figures (issue 25); empty when there was nothing to compare with (``flaky``:
    when no comparison was asked for)."""
    comparison, reason, flaky = compared
    asked = comparison is not None or reason is not None
    if comparison is None:
        return {"coverage-change": "", "new-failures": "", "query-regressions": "",
                "flaky": str(len(flaky)) if asked else "", "known-flaky": ""}
    delta = comparison.figure("combined").delta
    return {"coverage-change": "" if delta is None else f"{delta:+.2f}",
            "new-failures": str(len(comparison.new_failures)),
            "query-regressions": str(len(comparison.query_regressions)), "flaky": str(len(flaky)),
            "known-flaky": str(len(comparison.known_flaky))}


def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="async-test report")
    parser.add_argument("summary", help="path to summary.json")
    parser.add_argument("--no-annotate", action="store_true")
    parser.add_argument("--comment", action="store_true")
    parser.add_argument("--repo", help="the repository checkout (default: $GITHUB_WORKSPACE)")
    parser.add_argument("--outputs-only", action="store_true",
                        help="a shard job: step outputs only (the report job annotates and summarises once)")
    args = parser.parse_args(argv)
    if args.outputs_only:
        return outputs_only(Path(args.summary), dict(os.environ), sys.stdout)
    token = os.environ.get("ASYNC_TEST_GITHUB_TOKEN", "")
    # A runner whose locale is not UTF-8 must not crash the step on a test id in another script.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    return report(Path(args.summary), dict(os.environ), sys.stdout, annotate=not args.no_annotate,
                  comment=args.comment, token=token, repo=Path(args.repo) if args.repo else None)


if __name__ == "__main__":
    sys.exit(main())
