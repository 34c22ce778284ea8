"""Builders of summary.json documents for the reporting tests (valid against the published schema)."""

import re
from typing import Any, Dict, List


def failure(nodeid: str, kind: str = "unit", path: str = "svc/tests/test_a.py", line: int = 3,
            message: str = "AssertionError: assert 1 == 2", when: str = "call", output: str = "") -> Dict[str, Any]:
    return {"nodeid": nodeid, "kind": kind, "when": when, "file": path.split("svc/", 1)[-1], "repo_path": path,
            "line": line, "message": message, "traceback": f"{path}:{line}: {message}", "output": output}


def summary(failures: List[Dict[str, Any]] = (), infra: Any = None, files: List[Dict[str, Any]] = (),
            heaviest: Any = None) -> Dict[str, Any]:
    def one(kind: str) -> Dict[str, Any]:
        mine = [f for f in failures if f["kind"] == kind]
        return {"kind": kind, "selected": True, "status": "failed" if mine else "passed",
                "exit_code": 1 if mine else 0, "duration_seconds": 1.5, "deselected": 0,
                "counts": {"passed": 5, "failed": len(mine), "errors": 0, "skipped": 0, "xfailed": 0,
                           "xpassed": 0, "total": 5 + len(mine)},
                "failures": mine, "slowest": [{"nodeid": f"svc/tests/test_{kind}.py::test_slow",
                                               "duration_seconds": 0.25}], "warnings": [],
                "heaviest": [] if kind == "unit" else heaviest if heaviest is not None else [
                    {"nodeid": "svc/tests/test_integration.py::test_list_users", "statements": 12},
                    {"nodeid": "svc/tests/test_integration.py::test_create", "statements": 3}]}

    code = 3 if infra else (1 if failures else 0)
    name = {0: "ok", 1: "tests_failed", 3: "infrastructure_error"}[code]
    totals = {"percent": 80.0, "covered_lines": 80, "statements": 100}
    return {
        "schema_version": 1, "tool": {"name": "async-test", "version": "0.1.0"},
        "started_at": "2026-11-25T00:00:00+00:00", "duration_seconds": 3.0,
        "project": {"root": "/workspace/svc", "repo_root": "/workspace", "path_in_repo": "svc",
                    "results_dir": "/workspace/svc/.async-test"},
        "exit": {"code": code, "name": name, "reason": name.replace("_", " ")},
        "environment": {"python": "3.11.7"}, "phases": {"total": 3.0},
        "passes": {"unit": one("unit"), "integration": one("integration")},
        "coverage": {"unit": totals, "integration": totals, "combined": totals, "files": list(files),
                     "thresholds": {"unit": None, "integration": None, "combined": None}, "below_threshold": []},
        "infrastructure_error": infra, "files": {},
    }


def workflow_commands(log: str) -> List[str]:
    """Lines GitHub would execute: those outside stop-commands fences that start with '::'.

    GitHub splits the log on CR as well as LF, so a lone CR starts a line too.
    """
    active: List[str] = []
    token = None
    for line in re.split(r"\r\n|\r|\n", log):
        if token:
            if line == f"::{token}::":
                token = None
            continue
        if line.startswith("::stop-commands::"):
            token = line.split("::stop-commands::")[1]
            continue
        if line.startswith("::"):
            active.append(line)
    return active
