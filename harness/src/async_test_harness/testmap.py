"""Which tests run which functions of the project: the map ``--affected`` selects by.

A run with ``--record-map`` gives every test its own coverage.py dynamic context
(``unit|<nodeid>``, plugin/coverage_contexts.py) and this module reduces the lines each context
ran to **functions**, like pytest-testmon's blocks: a test depends on every function whose body
it entered, and on the module-level code of the files it touched. A function, not a line, because
an edit to a line no test ran (the other side of an ``if``) can still change what a test that runs
the function sees, and the function is what a one-line diff can be placed in reliably.

Lines that ran outside any test (imports, collection, the first test's session fixtures are in
that test's context, but a function called at import time is not) are kept apart: a function that
ran there is marked ``import_time``, and a change to it counts as a change to the module's
top-level code, which affect.py handles by the import graph, never by the map alone.

The map is ``testmap.json`` in the results folder, travelling with the baseline. Its size
scales with tests x functions each one enters; blocks, not lines, keep it small (measured in
docs/affected.md).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

MAP_FILE = "testmap.json"
FORMAT = "async-test-testmap"
VERSION = 1
MODULE = -1  # the block of a file's top-level code (class bodies, decorators, signatures included)
CONTEXT_SEPARATOR = "|"  # a context is "<kind>|<nodeid>"


class MapError(ValueError):
    """A map that cannot be read; the message says why (the selection then runs everything)."""


def function_ranges(source: str) -> List[Tuple[int, int]]:
    """The body of every function of a module, (first line, last line), in source order.

    The body starts at its first statement: the ``def`` line, decorators and default values run
    in the enclosing scope (at import for a top-level function), so they belong to it.
    """
    tree = ast.parse(source)
    ranges: List[Tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            end = node.end_lineno or node.body[-1].lineno
            ranges.append((node.body[0].lineno, end))
    ranges.sort()
    return ranges


def block_of(ranges: Sequence[Tuple[int, int]], line: int) -> int:
    """The innermost function whose body holds ``line`` (its index in ``ranges``), else MODULE."""
    best, size = MODULE, None
    for index, (start, end) in enumerate(ranges):
        if start > line:
            break
        if line <= end and (size is None or end - start < size):
            best, size = index, end - start
    return best


@dataclass
class TestMap:
    """tests[i] is a node id; files[path] holds its function ranges, blocks (block -> test indexes
    that ran it) and import_time (blocks that ran outside any test). Paths are repository-relative."""

    __test__ = False  # not a pytest test class, whatever its name

    tests: List[str] = field(default_factory=list)
    files: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    failed: List[str] = field(default_factory=list)
    base_commit: Optional[str] = None
    dirty: bool = False  # recorded on a tree with uncommitted changes: no commit describes it
    project: str = "."  # the project folder, repository-relative
    harness_version: str = ""
    # Line data, for coverage carried forward (carryforward.py): kinds[i] is tests[i]'s pass ("" when it
    # ran no measured line), and each file's "lines" is [[test indexes], [lines they all ran]] groups.
    # Maps recorded before it have neither: ``has_lines`` is False and nothing is carried forward.
    kinds: List[str] = field(default_factory=list)
    has_lines: bool = False

    def tests_of(self, path: str, blocks: Iterable[int]) -> Set[str]:
        entry = self.files.get(path)
        if entry is None:
            return set()
        found: Set[str] = set()
        ids = self.tests
        for block in blocks:
            for index in entry["blocks"].get(str(block), []):
                found.add(ids[index])
        return found

    def tests_touching(self, path: str) -> Set[str]:
        entry = self.files.get(path)
        return self.tests_of(path, [int(b) for b in entry["blocks"]]) if entry else set()

    def to_json(self) -> Dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "harness_version": self.harness_version,
                "project": self.project, "base_commit": self.base_commit, "dirty": self.dirty,
                "tests": self.tests, "failed": sorted(set(self.failed)), "files": self.files,
                **({"kinds": self.kinds, "line_data": True} if self.has_lines else {})}

    def lines_of(self, path: str, tests: Set[int]) -> Dict[str, Set[int]]:
        """The lines of ``path`` the tests with these indexes ran, per pass (their kinds)."""
        found: Dict[str, Set[int]] = {"unit": set(), "integration": set()}
        for group, lines in (self.files.get(path) or {}).get("lines", []):
            for index in group:
                if index in tests and index < len(self.kinds) and self.kinds[index] in found:
                    found[self.kinds[index]].update(lines)
        return found


def write(testmap: TestMap, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(testmap.to_json(), separators=(",", ":"), sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def read(path: Path) -> TestMap:
    """The map in ``path``; MapError (one line) for a missing, broken or foreign file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MapError(f"no {MAP_FILE} in {path.parent} (record one with async-test run --record-map, or in "
                       "the action with select: affected on a push to the default branch)") from None
    except (OSError, ValueError) as exc:
        raise MapError(f"{path} cannot be read ({exc})") from None
    return parse(text, path)


def parse(text: str, path: Path) -> TestMap:
    """A map's JSON text (``path`` names it in the error); MapError (one line) when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MapError(f"{path} cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MapError(f"{path} is not an async-test map")
    if data.get("version") != VERSION:
        raise MapError(f"{path} has map version {data.get('version')!r}; this harness reads version {VERSION}")
    try:
        return TestMap(tests=[str(t) for t in data["tests"]], files=dict(data["files"]),
                       failed=[str(t) for t in data.get("failed", [])], base_commit=data.get("base_commit"),
                       dirty=bool(data.get("dirty")), project=str(data.get("project", ".")),
                       harness_version=str(data.get("harness_version", "")),
                       kinds=[str(k) for k in data.get("kinds", [])], has_lines=data.get("line_data") is True)
    except (KeyError, TypeError, ValueError) as exc:
        raise MapError(f"{path} is missing a field ({exc})") from None


def merge(maps: Sequence[TestMap]) -> Union[TestMap, str]:
    """One map of the tests of several (the shards of a run, each recording its own tests); or why not.

    Test indexes are renumbered; each file's blocks, import-time blocks and line groups are joined. The
    shards ran the same tree: maps of different commits, projects or harness versions are not merged."""
    first = maps[0]
    if any((m.base_commit, m.dirty, m.project) != (first.base_commit, first.dirty, first.project) for m in maps):
        return "the shards recorded their maps on different commits or projects"
    tests: List[str] = []
    index: Dict[str, int] = {}
    kinds: Dict[str, str] = {}
    files: Dict[str, Dict[str, Any]] = {}
    lines_by_file: Dict[str, Dict[int, Set[int]]] = {}
    try:
        for m in maps:
            renumber = []
            for n, nodeid in enumerate(m.tests):
                if nodeid not in index:
                    index[nodeid] = len(tests)
                    tests.append(nodeid)
                renumber.append(index[nodeid])
                if n < len(m.kinds) and m.kinds[n]:
                    kinds[nodeid] = m.kinds[n]
            for path, entry in m.files.items():
                into = files.setdefault(path, {"functions": entry["functions"], "blocks": {}, "import_time": []})
                for block, ran in entry["blocks"].items():
                    into["blocks"][block] = sorted(set(into["blocks"].get(block, [])) | {renumber[i] for i in ran})
                into["import_time"] = sorted(set(into["import_time"]) | set(entry["import_time"]))
                by_line = lines_by_file.setdefault(path, {})
                for group, lines in entry.get("lines", []):
                    for line in lines:
                        by_line.setdefault(int(line), set()).update(renumber[i] for i in group)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        return f"a shard's map is damaged ({type(exc).__name__})"
    for path, by_line in lines_by_file.items():
        groups: Dict[Tuple[int, ...], List[int]] = {}
        for line, ran_it in sorted(by_line.items()):
            groups.setdefault(tuple(sorted(ran_it)), []).append(line)
        files[path]["lines"] = [[list(g), found] for g, found in sorted(groups.items())]
    return TestMap(tests=tests, files=files, failed=sorted({f for m in maps for f in m.failed}),
                   base_commit=first.base_commit, dirty=first.dirty, project=first.project,
                   harness_version=first.harness_version, kinds=[kinds.get(t, "") for t in tests],
                   has_lines=all(m.has_lines for m in maps))


def git(repo: Path, *args: str) -> Optional[str]:
    """git's output, or None when git or the repository is not there.

    ``safe.directory`` names this repository: in the action's container the tests run as an
    unprivileged account in a workspace the runner's account owns, where git refuses a repository
    it does not own (its "dubious ownership"); the run executes the project's code anyway.
    """
    try:
        done = subprocess.run(["git", "-c", f"safe.directory={Path(repo).resolve()}", "-C", str(repo), *args],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def build(coverage_file: Path, repo_root: Path, project_root: Path, ran: Iterable[str], failed: Iterable[str],
          harness_version: str) -> TestMap:
    """The map from a session's coverage data whose contexts are "<kind>|<nodeid>" ("" outside tests).

    ``ran``: every node id that ran (a test that ran no measured line has no context, and is still
    known: no source change can reach it except through its own file).
    """
    from coverage import CoverageData

    data = CoverageData(basename=str(coverage_file))
    data.read()
    index: Dict[str, int] = {}
    tests: List[str] = []
    for nodeid in sorted(set(ran)):
        index[nodeid] = len(tests)
        tests.append(nodeid)
    files: Dict[str, Dict[str, Any]] = {}
    kinds: Dict[str, str] = {}
    root = repo_root.resolve()
    for measured in sorted(data.measured_files()):
        try:
            rel = Path(measured).resolve().relative_to(root).as_posix()
        except ValueError:
            continue  # outside the repository: no diff can name it
        try:
            ranges = function_ranges(Path(measured).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue  # not Python source (a template a plugin measures): affect.py treats it as unmeasured
        blocks: Dict[int, Set[int]] = {}
        import_time: Set[int] = set()
        by_line: Dict[int, Set[int]] = {}
        for line, contexts in (data.contexts_by_lineno(measured) or {}).items():
            block = block_of(ranges, line)
            for context in contexts:
                if not context or CONTEXT_SEPARATOR not in context:
                    import_time.add(block)
                    continue
                kind, nodeid = context.split(CONTEXT_SEPARATOR, 1)
                if nodeid not in index:
                    index[nodeid] = len(tests)
                    tests.append(nodeid)
                kinds[nodeid] = kind
                blocks.setdefault(block, set()).add(index[nodeid])
                by_line.setdefault(line, set()).add(index[nodeid])
        groups: Dict[Tuple[int, ...], List[int]] = {}
        for line, ran_it in sorted(by_line.items()):
            groups.setdefault(tuple(sorted(ran_it)), []).append(line)
        files[rel] = {"functions": [list(r) for r in ranges],
                      "blocks": {str(b): sorted(t) for b, t in sorted(blocks.items())},
                      "import_time": sorted(import_time),
                      "lines": [[list(g), lines] for g, lines in sorted(groups.items())]}
    head = git(repo_root, "rev-parse", "HEAD")
    status = git(repo_root, "status", "--porcelain", "--untracked-files=no")
    try:
        project = project_root.resolve().relative_to(root).as_posix()
    except ValueError:
        project = "."
    return TestMap(tests=tests, files=files, failed=sorted(set(failed)),
                   base_commit=head.strip() if head else None, dirty=bool(status and status.strip()),
                   project=project, harness_version=harness_version,
                   kinds=[kinds.get(t, "") for t in tests], has_lines=True)
