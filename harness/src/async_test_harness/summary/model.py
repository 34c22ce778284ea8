"""summary.json as typed objects: built by the runner, read by everything that reports.

The runner builds a ``Summary`` and writes ``to_json()``; the report reads ``Summary.read`` (or
``Summary.from_json`` on a parsed document), which validates against ``summary.schema.json`` first,
so a document that is not a summary raises ``validate.Invalid`` and nothing in it is used. Nobody
outside this package reads the document by key paths.

``to_json`` writes the keys the runner has always written, in its order: a summary the runner
wrote reads back to the same document, byte for byte through ``json.dumps``. ``from_json`` reads
every key the schema names and ignores the others (the schema allows them; nothing reported them).
An optional key a document lacks reads as its default: ``threshold_sources``, a failure's
``passes`` and a pass's ``heaviest`` stay absent; ``status_reason``, the coverage ``error`` and a
threshold read as null.
Integers are read as ``int`` (JSON allows ``1.0`` where the schema says integer); other numbers
are kept as the document has them. Environment values that are not text (keys beyond the
schema's are unchecked by it) are dropped.

Standard library only: the report runs outside the test container with nothing installed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

from .validate import load_schema, read_document, validate

SCHEMA_VERSION = 1
TOOL_NAME = "async-test"
FIGURES = ("unit", "integration", "combined")

T = TypeVar("T")
Json = Dict[str, Any]
# A key the schema makes optional and the runner writes only when it has a value (never as null).
ABSENT_WHEN_NONE = {"absent_when_none": True}


def _int(value: Any) -> int:
    """A number the schema validated as an integer (``1.0`` included)."""
    return int(value)


def _optional_int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


class _Part:
    """A part of the document: ``to_json`` writes its fields, in their order, as the document's keys."""

    __dataclass_fields__: ClassVar[Dict[str, Any]]

    def to_json(self) -> Json:
        return {f.name: _json(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not (f.metadata.get("absent_when_none") and getattr(self, f.name) is None)}


def _json(value: Any) -> Any:
    if isinstance(value, _Part):
        return value.to_json()
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


@dataclass(frozen=True)
class Tool(_Part):
    name: str  # TOOL_NAME
    version: str


@dataclass(frozen=True)
class ProjectPaths(_Part):
    root: str
    repo_root: str
    path_in_repo: str
    results_dir: str


@dataclass(frozen=True)
class Exit(_Part):
    code: int  # 0 ok, 1 tests failed, 2 usage, 3 infrastructure, 4 coverage, 5 no tests, 130 interrupted
    name: str
    reason: str


@dataclass(frozen=True)
class Counts(_Part):
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    total: int = 0


@dataclass(frozen=True)
class Failure(_Part):
    """A failing test, or a test module that failed to collect (``when`` is ``collect``)."""

    nodeid: str
    kind: str  # the pass: unit or integration
    when: str  # collect, setup, call, teardown; unreported: selected, never reported (results.mark_unreported)
    file: str  # relative to the project root
    repo_path: str  # relative to the repository root
    line: int
    message: str
    traceback: str
    output: str
    # Collection errors only: every pass that hit it (listed once, under the first).
    passes: Optional[Tuple[str, ...]] = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass(frozen=True)
class SlowTest(_Part):
    nodeid: str
    duration_seconds: float


@dataclass(frozen=True)
class HeavyTest(_Part):
    """A test by the SQL statements it executed through the harness's engines (plugin/queries.py)."""

    nodeid: str
    statements: int


@dataclass(frozen=True)
class Pass(_Part):
    kind: str  # unit or integration
    selected: bool
    status: str  # passed, failed, empty, error, interrupted, not-run
    exit_code: Optional[int]  # pytest's own
    duration_seconds: float
    counts: Counts = field(default_factory=Counts)
    deselected: int = 0
    failures: Tuple[Failure, ...] = ()
    slowest: Tuple[SlowTest, ...] = ()
    # The tests that executed the most SQL statements, most first (10); summaries before it lack the key.
    heaviest: Optional[Tuple[HeavyTest, ...]] = field(default=None, metadata=ABSENT_WHEN_NONE)
    warnings: Tuple[str, ...] = ()
    # Why the status is what it is when no listed failure says so, e.g. pytest exited 1 with no test failing.
    status_reason: Optional[str] = None


@dataclass(frozen=True)
class Passes(_Part):
    """The two passes, unit first: the order of every table and list."""

    unit: Pass
    integration: Pass

    def items(self) -> List[Tuple[str, Pass]]:
        return [("unit", self.unit), ("integration", self.integration)]

    def __iter__(self) -> Iterator[Pass]:
        return iter((self.unit, self.integration))


@dataclass(frozen=True)
class CoverageFigure(_Part):
    percent: float
    covered_lines: int
    statements: int


@dataclass(frozen=True)
class FileCoverage(_Part):
    """One measured file's statements by who ran them (line numbers)."""

    path: str  # relative to the repository root
    statements: int
    percent: float
    unit_only: Tuple[int, ...]
    integration_only: Tuple[int, ...]
    both: Tuple[int, ...]
    neither: Tuple[int, ...]
    # An --affected run: true when the figure holds lines carried forward from the base's map (carryforward.py).
    carried_forward: Optional[bool] = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass(frozen=True)
class PerFigure(_Part, Generic[T]):
    """One value per coverage figure (a threshold, where it was set), null where there is none."""

    unit: Optional[T] = None
    integration: Optional[T] = None
    combined: Optional[T] = None

    def items(self) -> List[Tuple[str, Optional[T]]]:
        return [(name, getattr(self, name)) for name in FIGURES]


@dataclass(frozen=True)
class Coverage(_Part):
    unit: Optional[CoverageFigure] = None
    integration: Optional[CoverageFigure] = None
    combined: Optional[CoverageFigure] = None
    files: Tuple[FileCoverage, ...] = ()
    # The minimum applied to each figure, and where it was set (older summaries lack the sources).
    thresholds: PerFigure[float] = field(default_factory=PerFigure)
    threshold_sources: Optional[PerFigure[str]] = field(default=None, metadata=ABSENT_WHEN_NONE)
    below_threshold: Tuple[str, ...] = ()
    error: Optional[str] = None

    def figure(self, name: str) -> Optional[CoverageFigure]:
        """The ``unit``, ``integration`` or ``combined`` figure."""
        if name not in FIGURES:
            raise KeyError(name)
        value: Optional[CoverageFigure] = getattr(self, name)
        return value


@dataclass(frozen=True)
class InfrastructureError(_Part):
    phase: Optional[str]  # e.g. database, results
    message: str


@dataclass(frozen=True)
class ShardInfo(_Part):
    """The shard a run ran (``async-test run --shard K/N``): shard ``index`` of ``total``.

    ``selected`` of ``collected`` tests, as the plugin counted them (null when it could not: under
    xdist the controller collects nothing). A shard's exit code ignores coverage thresholds:
    ``async-test combine`` checks them on the combined figures.
    """

    index: int
    total: int
    selected: Optional[int] = None
    collected: Optional[int] = None
    # sharding.fingerprint of the collected test ids (absent when unknown: xdist, older versions).
    fingerprint: Optional[str] = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass(frozen=True)
class AffectedInfo(_Part):
    """What an ``async-test run --affected BASE_RESULTS`` ran (affected.py): ``selected`` of
    ``collected`` tests (null when the plugin did not count), chosen by ``changed_files`` changed files;
    ``run_all`` with its ``reason`` when the selection could not be trusted and every test ran.
    ``line`` is the sentence the reports show. A run that did not run everything carries the coverage of
    the tests it left out forward from the base's map (carryforward.py): ``coverage_line`` says how many
    files (``carried_forward_files``) or why not; when not, its figures cover only the tests it ran and
    its thresholds are not checked (``coverage_carried`` false)."""

    line: str
    run_all: bool
    reason: Optional[str] = None
    selected: Optional[int] = None
    collected: Optional[int] = None
    changed_files: int = 0
    coverage_line: Optional[str] = field(default=None, metadata=ABSENT_WHEN_NONE)
    coverage_carried: Optional[bool] = field(default=None, metadata=ABSENT_WHEN_NONE)
    carried_forward_files: Optional[int] = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass(frozen=True)
class ShardRun(_Part):
    """One results folder ``async-test combine`` merged, with its time (shards run side by side)."""

    index: Optional[int]  # null for a folder of a run that was not sharded
    total: Optional[int]
    results_dir: str
    started_at: str
    duration_seconds: float
    exit_code: int
    tests: int  # tests run, both passes


@dataclass(frozen=True)
class Summary(_Part):
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
    shard: Optional[ShardInfo] = field(default=None, metadata=ABSENT_WHEN_NONE)  # a run of one shard
    shards: Optional[Tuple[ShardRun, ...]] = field(default=None, metadata=ABSENT_WHEN_NONE)  # a combined folder
    affected: Optional[AffectedInfo] = field(default=None, metadata=ABSENT_WHEN_NONE)  # an --affected run

    @property
    def failures(self) -> List[Failure]:
        """Every listed failure, the unit pass's first."""
        return [f for p in self.passes for f in p.failures]

    @property
    def warnings(self) -> List[str]:
        return [w for p in self.passes for w in p.warnings]

    def to_json(self) -> Json:
        return {"schema_version": SCHEMA_VERSION, **super().to_json()}

    @classmethod
    def from_json(cls, doc: Any) -> Summary:
        """The summary ``doc`` (parsed JSON) holds; raises ``validate.Invalid`` where it breaks the schema."""
        validate(doc, load_schema())
        infra = doc["infrastructure_error"]
        return cls(
            tool=Tool(doc["tool"]["name"], doc["tool"]["version"]),
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
            shard=_shard(doc.get("shard")),
            shards=None if doc.get("shards") is None else tuple(_shard_run(r) for r in doc["shards"]),
            affected=_affected(doc.get("affected")),
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
        heaviest=_heaviest(doc.get("heaviest")),
        warnings=tuple(doc["warnings"]), status_reason=doc.get("status_reason"),
    )


def _heaviest(doc: Optional[List[Json]]) -> Optional[Tuple[HeavyTest, ...]]:
    return None if doc is None else tuple(HeavyTest(h["nodeid"], _int(h["statements"])) for h in doc)


def _figure(doc: Optional[Json]) -> Optional[CoverageFigure]:
    return None if doc is None else CoverageFigure(doc["percent"], _int(doc["covered_lines"]), _int(doc["statements"]))


def _file(doc: Json) -> FileCoverage:
    def lines(key: str) -> Tuple[int, ...]:
        return tuple(_int(n) for n in doc[key])

    return FileCoverage(doc["path"], _int(doc["statements"]), doc["percent"], lines("unit_only"),
                        lines("integration_only"), lines("both"), lines("neither"), doc.get("carried_forward"))


def _per_figure(doc: Json) -> PerFigure[Any]:
    return PerFigure(doc.get("unit"), doc.get("integration"), doc.get("combined"))


def _shard(doc: Optional[Json]) -> Optional[ShardInfo]:
    if doc is None:
        return None
    return ShardInfo(_int(doc["index"]), _int(doc["total"]), _optional_int(doc.get("selected")),
                     _optional_int(doc.get("collected")), doc.get("fingerprint"))


def _affected(doc: Optional[Json]) -> Optional[AffectedInfo]:
    if doc is None:
        return None
    return AffectedInfo(str(doc["line"]), bool(doc["run_all"]), doc.get("reason"), _optional_int(doc.get("selected")),
                        _optional_int(doc.get("collected")), _int(doc.get("changed_files", 0)),
                        doc.get("coverage_line"), doc.get("coverage_carried"),
                        _optional_int(doc.get("carried_forward_files")))


def _shard_run(doc: Json) -> ShardRun:
    return ShardRun(_optional_int(doc["index"]), _optional_int(doc["total"]), doc["results_dir"], doc["started_at"],
                    doc["duration_seconds"], _int(doc["exit_code"]), _int(doc["tests"]))


def _coverage(doc: Json) -> Coverage:
    sources = doc.get("threshold_sources")
    return Coverage(
        unit=_figure(doc["unit"]), integration=_figure(doc["integration"]), combined=_figure(doc["combined"]),
        files=tuple(_file(f) for f in doc["files"]), thresholds=_per_figure(doc["thresholds"]),
        threshold_sources=None if sources is None else _per_figure(sources),
        below_threshold=tuple(doc["below_threshold"]), error=doc.get("error"),
    )
