"""Two results folders as comparable facts, and their differences (issue 22, "Prove it with a differential test").

A *fact* is one key and one JSON-like value read from a results folder: ``summary.json
passes.unit.counts.failed``, ``junit-unit.xml src.tests.test_a::test_b`` (the test's outcome, kind,
message, file and line), ``.coverage.unit src/app/used.py`` (the lines run), ``coverage.json
files.app/unused.py.missing_lines``, the names of the files in the folder, ... Everything the folder
says is read, not a chosen few fields, so a field nobody thought of is compared too; the only keys
left out are in ``EXCEPTED`` (times, versions, timestamps, the folder's own path: they differ between
any two runs) and in ``DELIBERATE`` (differences the two modes are meant to have, each with its
reason). A difference anywhere else is a bug in one of the two modes.

The third run, plain ``pytest --cov``, measures as the runner's passes do (test_differential.py gives it
``coverage_reports.measurement_environment()``: ``concurrency = greenlet, thread``); measured otherwise,
coverage.py misattributes lines after a greenlet switch, a difference of measurement, not of the modes.

``tests/differential/test_differential_compare.py`` checks on hand-made folders that each kind of
difference is found, so this comparison cannot pass silently.
"""

from __future__ import annotations

import fnmatch
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

Facts = Dict[str, Any]

# Keys never compared: what differs between any two runs of the same thing (fnmatch patterns).
EXCEPTED: Tuple[str, ...] = (
    "summary.json started_at",
    "summary.json duration_seconds",
    "summary.json passes.*.duration_seconds",
    "summary.json passes.*.slowest*",  # the ten slowest tests: chosen by time
    "summary.json phases.*",
    "summary.json environment.*",  # versions
    "summary.json tool.version",
    "summary.json project.results_dir",
    "summary.json shards*.started_at",  # async-test combine's record of each merged folder
    "summary.json shards*.duration_seconds",
    "summary.json shards*.results_dir",
    "junit-*.xml suite.time",
    "junit-*.xml suite.timestamp",
    "junit-*.xml suite.hostname",
    "coverage.json meta.timestamp",
    "coverage.json meta.version",
    "coverage*.xml coverage.timestamp",
    "coverage*.xml coverage.version",
    "folder .async-test.lock",  # the lock file's presence is the runner's business, not a result
)

# Differences the default run (one pytest session) and --separate-passes (two processes) are meant to
# have: pattern -> why. Keep it short; every entry is a place where the two modes say different things.
DELIBERATE: Dict[str, str] = {
    "folder events-*.jsonl": (
        "the runner's internal stream from each pytest process to the runner: events-all.jsonl from the one "
        "session, events-unit.jsonl and events-integration.jsonl from two processes. summary.json, which the "
        "runner builds from them, is compared."),
}

ABSENT = "<absent>"

# Text only the default run writes, on purpose, left out of its facts before comparing (the warning in
# summary.json, and its item, or its whole "## Warnings" section, in summary.md).
DELIBERATE_TEXT: Dict[str, str] = {
    "was open when collection ended": (
        "the default run says why its unit tests ran in a process of their own (plugin/early_connections.py), "
        "in a warning of the unit pass; two processes have nothing to explain"),
}


def _deliberate(text: Any) -> bool:
    return isinstance(text, str) and any(t in text for t in DELIBERATE_TEXT)


def without_deliberate_warnings(doc: Dict[str, Any]) -> Dict[str, Any]:
    """summary.json without the warnings DELIBERATE_TEXT names."""
    for p in (doc.get("passes") or {}).values():
        if isinstance(p, dict) and isinstance(p.get("warnings"), list):
            p["warnings"] = [w for w in p["warnings"] if not _deliberate(w)]
    return doc


def without_deliberate_lines(lines: List[str]) -> List[str]:
    """summary.md without the warning items DELIBERATE_TEXT names (and a "## Warnings" section left empty)."""
    kept = [line for line in lines if not (line.startswith("- ") and _deliberate(line))]
    out: List[str] = []
    n = 0
    while n < len(kept):
        if kept[n] == "## Warnings":
            end = next((m for m in range(n + 1, len(kept)) if kept[m].startswith("## ")), len(kept))
            if not any(line.strip() for line in kept[n + 1:end]):
                n = end
                continue
        out.append(kept[n])
        n += 1
    return out


@dataclass(frozen=True)
class Difference:
    key: str
    left: Any
    right: Any

    def render(self, names: Tuple[str, str], width: int = 300) -> str:
        return (f"{self.key}\n    {names[0]}: {_short(self.left, width)}\n"
                f"    {names[1]}: {_short(self.right, width)}")


class DifferentResults(AssertionError):
    """The two results differ outside the documented exceptions (the message lists the first 20)."""


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[:width] + f"... ({len(text)} characters)"


# --------------------------------------------------------------------------- reading a results folder


def results_facts(results: Path, project_root: Optional[Path] = None) -> Facts:
    """Every comparable fact of one results folder.

    ``project_root``: coverage.py's absolute file names are made relative to it (both runs of a
    comparison are on the same project copy, so this only shortens the report).
    """
    facts: Facts = {}
    facts.update(folder_facts(results))
    summary = results / "summary.json"
    if summary.is_file():
        document = without_deliberate_warnings(json.loads(summary.read_text(encoding="utf-8")))
        facts.update(summary_facts(document, str(results)))
    for kind in ("unit", "integration"):
        junit = results / f"junit-{kind}.xml"
        if junit.is_file():
            facts.update(junit_facts(junit))
        data = results / f".coverage.{kind}"
        if data.is_file():
            facts.update(coverage_data_facts(data, project_root))
        report = results / f"coverage-{kind}.xml"
        if report.is_file():
            facts.update(coverage_xml_facts(report))
    if (results / ".coverage").is_file():
        facts.update(coverage_data_facts(results / ".coverage", project_root, contexts=True))
    if (results / "coverage.xml").is_file():
        facts.update(coverage_xml_facts(results / "coverage.xml"))
    if (results / "coverage.json").is_file():
        facts.update(coverage_json_facts(results / "coverage.json"))
    if (results / "durations.json").is_file():
        facts.update(durations_facts(results / "durations.json"))
    if (results / "summary.md").is_file():
        facts.update(markdown_facts(results / "summary.md"))
    return facts


def folder_facts(results: Path) -> Facts:
    """Which files the folder holds (not their contents: those are read by the other readers)."""
    return {f"folder {p.name}": "dir" if p.is_dir() else "file" for p in sorted(results.iterdir())}


def flatten(prefix: str, value: Any) -> Facts:
    """A JSON document as dotted keys. A list of records is keyed by its records' ids (a failure by
    nodeid and phase, a coverage file by path) so that one extra record is one difference, not a
    shifted list; other lists are one value each."""
    out: Facts = {}
    if isinstance(value, dict):
        if not value:
            out[prefix] = {}
        for key, sub in value.items():
            out.update(flatten(f"{prefix}.{key}" if " " in prefix else f"{prefix} {key}", sub))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value) and _record_id(value[0]):
        seen: Dict[str, int] = {}
        for record in value:
            rid = _record_id(record) or "?"
            seen[rid] = seen.get(rid, 0) + 1
            if seen[rid] > 1:
                rid = f"{rid}#{seen[rid]}"
            out.update(flatten(f"{prefix}[{rid}]", record))
    else:
        out[prefix] = value
    return out


def _record_id(record: Dict[str, Any]) -> Optional[str]:
    if "nodeid" in record and "when" in record:
        return f"{record['nodeid']} ({record['when']})"
    for key in ("nodeid", "path", "index"):
        if key in record:
            return str(record[key])
    return None


# An object's address in a repr (``<AsyncSession object at 0x7f5dc1736750>`` in a traceback) differs
# between any two processes; it is shown as ``0x...``.
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
# A TCP port in a message: each run's server, and each unit process's blocked address (a free port nothing
# listens on: provision.blocked_address), gets its own; shown as ``<port>``.
_PORT = re.compile(r"(?<=port )\d{2,5}\b|(?<=127\.0\.0\.1:)\d{2,5}\b|(?<=localhost:)\d{2,5}\b")


def _plain(text: str, results_dir: str = "") -> str:
    if results_dir:  # a message naming the results folder names the same place in both runs
        text = text.replace(results_dir, "<results>")
    return _PORT.sub("<port>", _ADDRESS.sub("0x...", text))


def summary_facts(doc: Dict[str, Any], results_dir: str = "") -> Facts:
    return {k: _plain(v, results_dir) if isinstance(v, str) else v for k, v in flatten("summary.json", doc).items()}


def junit_facts(path: Path) -> Facts:
    """Each test case's outcome, kind (the harness's property), message, file and line; the suites' counts."""
    name = path.name
    facts: Facts = {}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for n, suite in enumerate(suites):
        label = "suite" if n == 0 else f"suite{n}"
        for attr, value in suite.attrib.items():
            facts[f"{name} {label}.{attr}"] = value
    for case in root.iter("testcase"):
        nodeid = f"{case.get('classname')}::{case.get('name')}"
        record: Dict[str, Any] = {"outcome": "passed"}
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
                if child.tag == "skipped" and child.get("type") == "pytest.xfail":
                    outcome = "xfailed"
                record["outcome"] = outcome
                record["message"] = _plain(child.get("message") or "")
                record["text"] = _plain((child.text or "").strip())
        record["kind"] = next((p.get("value") for p in case.iter("property") if p.get("name") == "async_test_kind"),
                              None)
        record["file"], record["line"] = case.get("file"), case.get("line")
        key = f"{name} {nodeid}"
        if key in facts:  # the same test reported twice is a difference in itself
            key += " (again)"
        facts[key] = record
    return facts


def _relative(path: str, root: Optional[Path]) -> str:
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return path


def coverage_data_facts(path: Path, project_root: Optional[Path], contexts: bool = False) -> Facts:
    """coverage.py's data: the measured files (unimported ones included, with no lines), the lines
    (or arcs) run in each, and with ``contexts`` the lines each context (unit, integration) ran."""
    from coverage import CoverageData

    data = CoverageData(basename=str(path))
    data.read()
    name = path.name
    facts: Facts = {f"{name} has_arcs": data.has_arcs(), f"{name} contexts": sorted(data.measured_contexts())}
    for file in sorted(data.measured_files()):
        rel = _relative(file, project_root)
        facts[f"{name} {rel}"] = sorted(data.arcs(file) or []) if data.has_arcs() else sorted(data.lines(file) or [])
        if contexts:
            by_line = data.contexts_by_lineno(file)
            facts[f"{name} {rel} contexts"] = {str(line): sorted(c) for line, c in sorted(by_line.items())}
    return facts


def coverage_lines(path: Path, project_root: Optional[Path]) -> Dict[str, List[int]]:
    """file -> lines run, whatever the context: what plain ``pytest --cov`` and the default run's
    ``.coverage`` are compared on."""
    from coverage import CoverageData

    data = CoverageData(basename=str(path))
    data.read()
    return {_relative(f, project_root): sorted(data.lines(f) or []) for f in sorted(data.measured_files())}


def coverage_xml_facts(path: Path) -> Facts:
    """A Cobertura report: its totals, each package's and file's rates, and each file's lines with hits."""
    name = path.name
    root = ET.parse(path).getroot()
    facts: Facts = {f"{name} coverage.{k}": v for k, v in root.attrib.items()}
    facts[f"{name} sources"] = [s.text for s in root.iter("source")]
    for package in root.iter("package"):
        for k, v in package.attrib.items():
            facts[f"{name} package {package.get('name')}.{k}"] = v
    for cls in root.iter("class"):
        record: Dict[str, Any] = dict(cls.attrib)
        record["lines"] = {line.get("number"): {k: v for k, v in line.attrib.items() if k != "number"}
                           for line in cls.iter("line")}
        facts[f"{name} {cls.get('filename')}"] = record
    return facts


def coverage_json_facts(path: Path) -> Facts:
    """coverage.py's JSON report: its meta and totals, and per file each of its sections (lines,
    summary, per-line contexts, functions, classes) as one value. The contexts of a line are a set:
    their order in the file is the order coverage.py numbered them, which says nothing."""
    name = path.name
    doc = _sorted_contexts(json.loads(path.read_text(encoding="utf-8")))
    facts = flatten(name, {k: v for k, v in doc.items() if k != "files"})
    for file, sections in (doc.get("files") or {}).items():
        for section, value in sections.items():
            facts[f"{name} {file} {section}"] = value
    return facts


def _sorted_contexts(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ({line: sorted(c) for line, c in v.items()} if k == "contexts" and isinstance(v, dict)
                    else _sorted_contexts(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_sorted_contexts(v) for v in value]
    return value


def durations_facts(path: Path) -> Facts:
    """Which tests have a duration (the durations themselves are times)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    facts: Facts = {f"durations.json {k}": v for k, v in doc.items() if k != "durations"}
    facts["durations.json tests"] = sorted(doc.get("durations") or {})
    return facts


_TIME = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m)\b")


def markdown_facts(path: Path) -> Facts:
    """summary.md line by line, each time shown as ``<time>``."""
    lines = without_deliberate_lines(path.read_text(encoding="utf-8").splitlines())
    return {f"summary.md line {n:03d}": _plain(_TIME.sub("<time>", line)) for n, line in enumerate(lines, 1)}


# --------------------------------------------------------------------------- comparing


def ignored(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


# The order differences are listed in: verdicts and outcomes first, then the data, then the reports
# written from it (a difference in the data usually shows again in each report).
ORDER = ("process ", "summary.json ", "junit-", ".coverage", "plain pytest", "coverage.json ", "coverage",
         "summary.md ", "durations.json ", "folder ")


def _rank(key: str) -> Tuple[int, str]:
    return next((n for n, prefix in enumerate(ORDER) if key.startswith(prefix)), len(ORDER)), key


def differences(left: Facts, right: Facts, ignore: Iterable[str] = ()) -> List[Difference]:
    """Every key whose values differ (a key only one side has included): verdicts first (``ORDER``)."""
    skip = (*EXCEPTED, *DELIBERATE, *ignore)
    found = []
    for key in sorted(set(left) | set(right), key=_rank):
        if ignored(key, skip):
            continue
        a, b = left.get(key, ABSENT), right.get(key, ABSENT)
        if a != b:
            found.append(Difference(key, a, b))
    return found


def report(found: List[Difference], names: Tuple[str, str], limit: int = 20) -> str:
    shown = "\n".join(d.render(names) for d in found[:limit])
    more = f"\n... and {len(found) - limit} more" if len(found) > limit else ""
    return f"{len(found)} difference(s) between {names[0]} and {names[1]}:\n{shown}{more}"


def assert_same(left: Facts, right: Facts, names: Tuple[str, str], ignore: Iterable[str] = ()) -> None:
    found = differences(left, right, ignore)
    if found:
        raise DifferentResults(report(found, names))
