"""``async-test report``: annotations, job summary, outputs and the sticky comment from summary.json.

Runs on the runner with the token; reads only the results folder and the event payload.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, TextIO

from .annotations import build_annotations
from .commands import lines, write_outputs, write_raw
from .comment import CommentError, GitHubClient
from .diffcov import DiffCoverage, DiffUnavailable, changed_lines, diff_coverage
from .markdown import COMMENT_LIMIT, COMMENT_MARKER, JOB_SUMMARY_LIMIT, fit

SUPPORTED_SCHEMA = 1


def _event(env: Dict[str, str]) -> Dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    try:
        return dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return {}


def _diff(summary: Dict[str, Any], event: Dict[str, Any], repo: Path,
          notes: List[str]) -> tuple[Optional[DiffCoverage], Set[str]]:
    base = (event.get("pull_request") or {}).get("base", {}).get("sha")
    if not base:
        return None, set()
    try:
        changed = changed_lines(repo, base, (event.get("pull_request") or {}).get("head", {}).get("sha") or "HEAD")
    except DiffUnavailable as exc:
        notes.append(f"Diff coverage skipped: {exc}")
        return None, set()
    return diff_coverage(summary["coverage"]["files"], changed), set(changed)


def report(summary_path: Path, env: Dict[str, str], stream: TextIO, annotate: bool = True,
           comment: bool = False, token: str = "", repo: Optional[Path] = None) -> int:
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as exc:
        stream.write(lines([f"::error title=async-test::no readable summary.json at {summary_path}: {exc}"]))
        write_outputs(env.get("GITHUB_OUTPUT"), {"summary-path": "", "tests": "0", "failures": "0"})
        return 1
    if summary.get("schema_version") != SUPPORTED_SCHEMA:
        stream.write(lines([f"::error title=async-test::summary.json schema {summary.get('schema_version')} "
                            f"is not the supported {SUPPORTED_SCHEMA}"]))
        return 1
    notes: List[str] = []
    event = _event(env)
    diff, changed = _diff(summary, event, repo or Path(env.get("GITHUB_WORKSPACE", ".")), notes)
    for p in summary["passes"].values():
        for f in p["failures"]:
            if f.get("output") or f.get("traceback"):
                # The test id is untrusted too: it goes inside the fence with the rest.
                write_raw(stream, f"--- {f['kind']} failure: {f['nodeid']}\n" + (f.get("traceback") or "")
                          + ("\n" + f["output"] if f.get("output") else ""))
    number = (event.get("pull_request") or {}).get("number")
    if comment and number:
        if not token:
            notes.append("comment: true needs github-token; no comment was written")
        else:
            client = GitHubClient(env.get("GITHUB_API_URL", "https://api.github.com"), token,
                                  env.get("GITHUB_REPOSITORY", ""))
            try:
                client.upsert_comment(int(number), fit(summary, COMMENT_LIMIT, diff, prefix=COMMENT_MARKER + "\n"))
            except CommentError as exc:
                notes.append(f"Could not write the pull-request comment ({exc}); a fork's token is read-only, "
                             "so this is expected there. The job summary has the same content.")
    if annotate:
        stream.write(lines(build_annotations(summary, changed, diff, notes)))
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(fit(summary, JOB_SUMMARY_LIMIT, diff))
    counts = [p["counts"] for p in summary["passes"].values()]
    cov = summary["coverage"]
    outputs = {
        "tests": str(sum(c["total"] for c in counts)),
        "failures": str(sum(c["failed"] + c["errors"] for c in counts)),
        "unit-coverage": f"{cov['unit']['percent']:.2f}" if cov.get("unit") else "",
        "integration-coverage": f"{cov['integration']['percent']:.2f}" if cov.get("integration") else "",
        "combined-coverage": f"{cov['combined']['percent']:.2f}" if cov.get("combined") else "",
        "diff-coverage": f"{diff.percent:.2f}" if diff is not None and diff.percent is not None else "",
        "results-dir": str(summary_path.parent),
        "summary-path": str(summary_path),
        "exit-code": str(summary["exit"]["code"]),
    }
    write_outputs(env.get("GITHUB_OUTPUT"), outputs)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="async-test report")
    parser.add_argument("summary", help="path to summary.json")
    parser.add_argument("--no-annotate", action="store_true")
    parser.add_argument("--comment", action="store_true")
    parser.add_argument("--repo", help="the repository checkout (default: $GITHUB_WORKSPACE)")
    args = parser.parse_args(argv)
    token = os.environ.get("ASYNC_TEST_GITHUB_TOKEN", "")
    return report(Path(args.summary), dict(os.environ), sys.stdout, annotate=not args.no_annotate,
                  comment=args.comment, token=token, repo=Path(args.repo) if args.repo else None)


if __name__ == "__main__":
    sys.exit(main())
