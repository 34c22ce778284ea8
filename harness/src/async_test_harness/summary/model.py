"""summary.json as typed objects: built by the runner, read by everything that reports.

The runner builds a ``Summary`` and writes ``to_json()``; the report reads ``Summary.read`` (or
``Summary.from_json`` on a parsed document), which validates against ``summary.schema.json`` first,
so a document that is not a summary raises ``validate.Invalid`` and nothing in it is used. Nobody
outside this package reads the document by key paths.

``to_json`` writes the keys the runner has always written, in its order: a summary the runner
wrote reads back to the same document, byte for byte through ``json.dumps``. ``from_json`` reads
every key the schema names and ignores the others (the schema allows them; nothing reported them).
An optional key a document lacks reads as its default: ``threshold_sources`` and a failure's
``passes`` stay absent; ``status_reason``, the coverage ``error`` and a threshold read as null.
Integers are read as ``int`` (JSON allows ``1.0`` where the schema says integer); other numbers
are kept as the document has them. Environment values that are not text (keys beyond the
schema's are unchecked by it) are dropped.

Standard library only: the report runs outside the test container with nothing installed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

from .validate import load_schema, read_document, validate

SCHEMA_VERSION = 1
TOOL_NAME = "async-test"
PASS_KINDS = ("unit", "integration")
FIGURES = ("unit", "integration", "combined")

T = TypeVar("T")
Json = Dict[str, Any]


def _int(value: Any) -> int:
    """A number the schema validated as an integer (``1.0`` included)."""
    return int(value)


def _optional_int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Tool:
    version: str
    name: str = TOOL_NAME

    def to_json(self) -> Json:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class ProjectPaths:
    root: str
    repo_root: str
    path_in_repo: str
    results_dir: str

    def to_json(self) -> Json:
        return {"root": self.root, "repo_root": self.repo_root, "path_in_repo": self.path_in_repo,
                "results_dir": self.results_dir}


@dataclass(frozen=True)
class Exit:
    code: int  # 0 ok, 1 tests failed, 2 usage, 3 infrastructure, 4 coverage, 5 no tests, 130 interrupted
    name: str
    reason: str

    def to_json(self) -> Json:
        return {"code": self.code, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    total: int = 0

    def to_json(self) -> Json:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Failure:
    """A failing test, or a test module that failed to collect (``when`` is ``collect``)."""

    nodeid: str
    kind: str  # the pass: unit or integration
    when: str  # collect, setup, call, teardown
    file: str  # relative to the project root
    repo_path: str  # relative to the repository root
    line: int
    message: str
    traceback: str
    output: str
    passes: Optional[Tuple[str, ...]] = None  # collection errors: every pass that hit it

    def to_json(self) -> Json:
        doc: Json = {"nodeid": self.nodeid, "kind": self.kind, "when": self.when, "file": self.file,
                     "repo_path": self.repo_path, "line": self.line, "message": self.message,
                     "traceback": self.traceback, "output": self.output}
        if self.passes is not None:
            doc["passes"] = list(self.passes)
        return doc


@dataclass(frozen=True)
class SlowTest:
    nodeid: str
    duration_seconds: float

    def to_json(self) -> Json:
        return {"nodeid": self.nodeid, "duration_seconds": self.duration_seconds}


@dataclass(frozen=True)
class Pass:
    kind: str  # unit or integration
    selected: bool
    status: str  # passed, failed, empty, error, interrupted, not-run
    exit_code: Optional[int]  # pytest's own
    duration_seconds: float
    counts: Counts = field(default_factory=Counts)
    deselected: int = 0
    failures: Tuple[Failure, ...] = ()
    slowest: Tuple[SlowTest, ...] = ()
    warnings: Tuple[str, ...] = ()
    # Why the status is what it is when no listed failure says so, e.g. pytest exited 1 with no test failing.
    status_reason: Optional[str] = None

    def to_json(self) -> Json:
        return {
            "kind": self.kind, "selected": self.selected, "status": self.status, "exit_code": self.exit_code,
            "duration_seconds": self.duration_seconds, "counts": self.counts.to_json(),
            "deselected": self.deselected, "failures": [f.to_json() for f in self.failures],
            "slowest": [s.to_json() for s in self.slowest], "warnings": list(self.warnings),
            "status_reason": self.status_reason,
        }


@dataclass(frozen=True)
class Passes:
    """The two passes, unit first: the order of every table and list."""

    unit: Pass
    integration: Pass

    def items(self) -> List[Tuple[str, Pass]]:
        return [("unit", self.unit), ("integration", self.integration)]

    def __iter__(self) -> Iterator[Pass]:
        return iter((self.unit, self.integration))

    def to_json(self) -> Json:
        return {kind: p.to_json() for kind, p in self.items()}


@dataclass(frozen=True)
class CoverageFigure:
    percent: float
    covered_lines: int
    statements: int

    def to_json(self) -> Json:
        return {"percent": self.percent, "covered_lines": self.covered_lines, "statements": self.statements}


@dataclass(frozen=True)
class FileCoverage:
    """One measured file's statements by who ran them (line numbers)."""

    path: str  # relative to the repository root
    statements: int
    percent: float
    unit_only: Tuple[int, ...]
    integration_only: Tuple[int, ...]
    both: Tuple[int, ...]
    neither: Tuple[int, ...]

    def to_json(self) -> Json:
        return {"path": self.path, "statements": self.statements, "percent": self.percent,
                "unit_only": list(self.unit_only), "integration_only": list(self.integration_only),
                "both": list(self.both), "neither": list(self.neither)}


@dataclass(frozen=True)
class PerFigure(Generic[T]):
    """One value per coverage figure (a threshold, where it was set), null where there is none."""

    unit: Optional[T] = None
    integration: Optional[T] = None
    combined: Optional[T] = None

    def items(self) -> List[Tuple[str, Optional[T]]]:
        return [(name, getattr(self, name)) for name in FIGURES]

    def to_json(self) -> Json:
        return dict(self.items())


@dataclass(frozen=True)
class Coverage:
    unit: Optional[CoverageFigure] = None
    integration: Optional[CoverageFigure] = None
    combined: Optional[CoverageFigure] = None
    files: Tuple[FileCoverage, ...] = ()
    # The minimum applied to each figure, and where it was set (older summaries lack the sources).
    thresholds: PerFigure[float] = field(default_factory=PerFigure)
    threshold_sources: Optional[PerFigure[str]] = None
    below_threshold: Tuple[str, ...] = ()
    error: Optional[str] = None

    def figure(self, name: str) -> Optional[CoverageFigure]:
        """The ``unit``, ``integration`` or ``combined`` figure."""
        if name not in FIGURES:
            raise KeyError(name)
        value: Optional[CoverageFigure] = getattr(self, name)
        return value

    def to_json(self) -> Json:
        doc: Json = {name: None if (f := self.figure(name)) is None else f.to_json() for name in FIGURES}
        doc["files"] = [f.to_json() for f in self.files]
        doc["thresholds"] = self.thresholds.to_json()
        if self.threshold_sources is not None:
            doc["threshold_sources"] = self.threshold_sources.to_json()
        doc["below_threshold"] = list(self.below_threshold)
        doc["error"] = self.error
        return doc


@dataclass(frozen=True)
class InfrastructureError:
    phase: Optional[str]  # e.g. database, results
    message: str

    def to_json(self) -> Json:
        return {"phase": self.phase, "message": self.message}


@dataclass(frozen=True)
class Summary:
    """One ``async-test run``: the document summary.json holds (schema version ``SCHEMA_VERSION``)."""

    tool: Tool
    started_at: str
    duration_seconds: float
    project: ProjectPaths
    exit: Exit
    environment: Dict[str, Optional[str]]  # versions: python, pytest, ..., postgresql, postgresql_source
    phases: Dict[str, float]  # seconds per phase
    passes: Passes
    coverage: Coverage
    infrastructure_error: Optional[InfrastructureError]
    files: Dict[str, str]  # what each result file is called in the results folder

    @property
    def failures(self) -> List[Failure]:
        """Every listed failure, the unit pass's first."""
        return [f for p in self.passes for f in p.failures]

    @property
    def warnings(self) -> List[str]:
        return [w for p in self.passes for w in p.warnings]

    def to_json(self) -> Json:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": self.tool.to_json(),
            "started_at": self.started_at,
            "duration_seconds": self.duration_seconds,
            "project": self.project.to_json(),
            "exit": self.exit.to_json(),
            "environment": dict(self.environment),
            "phases": dict(self.phases),
            "passes": self.passes.to_json(),
            "coverage": self.coverage.to_json(),
            "infrastructure_error": None if self.infrastructure_error is None else self.infrastructure_error.to_json(),
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Summary:
        """The summary ``doc`` (parsed JSON) holds; raises ``validate.Invalid`` where it breaks the schema."""
        validate(doc, load_schema())
        infra = doc["infrastructure_error"]
        return cls(
            tool=Tool(doc["tool"]["version"], doc["tool"]["name"]),
            started_at=doc["started_at"],
            duration_seconds=doc["duration_seconds"],
            project=_project(doc["project"]),
            exit=Exit(_int(doc["exit"]["code"]), doc["exit"]["name"], doc["exit"]["reason"]),
            environment={k: v for k, v in doc["environment"].items() if v is None or isinstance(v, str)},
            phases=dict(doc["phases"]),
            passes=Passes(_pass(doc["passes"]["unit"]), _pass(doc["passes"]["integration"])),
            coverage=_coverage(doc["coverage"]),
            infrastructure_error=None if infra is None else InfrastructureError(infra["phase"], infra["message"]),
            files=dict(doc["files"]),
        )

    @classmethod
    def read(cls, path: Path) -> Summary:
        """The summary in the file at ``path``, any bytes, its strings printable (see ``validate``).

        Raises OSError, ValueError (not JSON) or ``validate.Invalid``.
        """
        return cls.from_json(read_document(path))

    def map_text(self, change: Callable[[str], str]) -> Summary:
        """This summary with ``change`` applied to every string in it, mapping keys included (masking)."""
        changed: Summary = _map_text(self, change)
        return changed


def _map_text(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _map_text(getattr(value, f.name), change)
                                             for f in dataclasses.fields(value)})
    if isinstance(value, tuple):
        return tuple(_map_text(v, change) for v in value)
    if isinstance(value, dict):
        return {_map_text(k, change): _map_text(v, change) for k, v in value.items()}
    return value


# Readers of the parts of a document ``Summary.from_json`` has validated: every shape is the schema's.


def _project(doc: Json) -> ProjectPaths:
    return ProjectPaths(doc["root"], doc["repo_root"], doc["path_in_repo"], doc["results_dir"])


def _counts(doc: Json) -> Counts:
    return Counts(**{f.name: _int(doc[f.name]) for f in dataclasses.fields(Counts)})


def _failure(doc: Json) -> Failure:
    passes = doc.get("passes")
    return Failure(doc["nodeid"], doc["kind"], doc["when"], doc["file"], doc["repo_path"], _int(doc["line"]),
                   doc["message"], doc["traceback"], doc["output"], None if passes is None else tuple(passes))


def _pass(doc: Json) -> Pass:
    return Pass(
        kind=doc["kind"], selected=doc["selected"], status=doc["status"],
        exit_code=_optional_int(doc["exit_code"]), duration_seconds=doc["duration_seconds"],
        counts=_counts(doc["counts"]), deselected=_int(doc["deselected"]),
        failures=tuple(_failure(f) for f in doc["failures"]),
        slowest=tuple(SlowTest(s["nodeid"], s["duration_seconds"]) for s in doc["slowest"]),
        warnings=tuple(doc["warnings"]), status_reason=doc.get("status_reason"),
    )


def _figure(doc: Optional[Json]) -> Optional[CoverageFigure]:
    return None if doc is None else CoverageFigure(doc["percent"], _int(doc["covered_lines"]), _int(doc["statements"]))


def _file(doc: Json) -> FileCoverage:
    def lines(key: str) -> Tuple[int, ...]:
        return tuple(_int(n) for n in doc[key])

    return FileCoverage(doc["path"], _int(doc["statements"]), doc["percent"], lines("unit_only"),
                        lines("integration_only"), lines("both"), lines("neither"))


def _per_figure(doc: Json) -> PerFigure[Any]:
    return PerFigure(doc.get("unit"), doc.get("integration"), doc.get("combined"))


def _coverage(doc: Json) -> Coverage:
    sources = doc.get("threshold_sources")
    return Coverage(
        unit=_figure(doc["unit"]), integration=_figure(doc["integration"]), combined=_figure(doc["combined"]),
        files=tuple(_file(f) for f in doc["files"]), thresholds=_per_figure(doc["thresholds"]),
        threshold_sources=None if sources is None else _per_figure(sources),
        below_threshold=tuple(doc["below_threshold"]), error=doc.get("error"),
    )
