"""The runner's side of ``--record-map`` and ``--affected BASE_RESULTS``: git, files, the summary's line.

``record`` turns the session's per-test coverage contexts into ``testmap.json`` (testmap.py) before
the coverage data is split into the passes'. ``prepare`` reads the base's map, asks git what
changed since the commit it was recorded on (committed, uncommitted and untracked files alike),
lets affected.py decide, and writes the selection the plugin narrows the session by
(plugin/affected.py). Every way the selection cannot be trusted ends in ``run_all`` with one
line, never an error: the run is then an ordinary full run.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple, Union

from .. import __version__
from ..affected import ADDED, COUNTS_SUFFIX, MODIFIED, Change, Selection, parse_diff, select
from ..carryforward import Carried, Extra, Hunk, apply, extra_lines
from ..summary.model import Coverage
from ..testmap import MAP_FILE, MapError, TestMap, build, git, read, write
from .project import Project

SELECTION_FILE = "affected-selection.json"
# A shard's left-out tests' lines from the base's map, for async-test combine to carry forward
CARRY_FILE = "affected-carry.json"
OUTPUTS = (MAP_FILE, SELECTION_FILE, SELECTION_FILE + COUNTS_SUFFIX, CARRY_FILE)  # what the results folder may hold
CARRY_LIMIT = 64 * 1024 * 1024  # bytes of CARRY_FILE combine reads (a 20-table service's is a few KiB)


@dataclass
class Prepared:
    selection: Selection
    path: Optional[Path]  # the plugin's selection file; None when every test runs
    moved: FrozenSet[str] = frozenset()  # every path the diff names (carryforward.py)
    # the modified files among them, with git's hunks: their base lines are moved, then carried
    remaps: Mapping[str, Tuple[Hunk, ...]] = field(default_factory=dict)


def _project_folder(project: Project) -> str:
    try:
        return project.root.resolve().relative_to(project.repo_root.resolve()).as_posix()
    except ValueError:
        return "."


def _python_sources(project: Project, excluded: Iterable[Path]) -> Dict[str, str]:
    """The project's Python files at the head, repository-relative -> text (for the import graph)."""
    repo = project.repo_root.resolve()
    skip = [p.resolve() for p in excluded]
    listed = git(repo, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.py")
    paths = [repo / p for p in listed.split("\0") if p] if listed is not None else list(project.root.rglob("*.py"))
    sources: Dict[str, str] = {}
    for path in paths:
        if any(path == s or s in path.parents for s in skip) or ".venv" in path.parts:
            continue
        try:
            sources[path.resolve().relative_to(repo).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
        except (OSError, ValueError):
            continue
    return sources


def changes_since(repo: Path, commit: str, excluded: Iterable[Path]) -> Optional[List[Change]]:
    """What differs between ``commit`` and the work tree (untracked files as added); None: git could not say."""
    diff = git(repo, "-c", "core.quotePath=false", "diff", "--no-renames", "--no-ext-diff", "-U0", commit, "--")
    if diff is None:
        return None
    changes = parse_diff(diff)
    untracked = git(repo, "ls-files", "--others", "--exclude-standard", "-z")
    for name in (untracked or "").split("\0"):
        if name:
            changes.append(Change(path=name, status=ADDED))
    skip = []
    for folder in excluded:
        try:
            skip.append(folder.resolve().relative_to(repo.resolve()).as_posix())
        except ValueError:
            continue
    return [c for c in changes if not any(c.path == s or c.path.startswith(s + "/") for s in skip)]


def base_problem(base: Path, missing_ok: bool) -> Optional[str]:
    """Why ``--affected BASE`` cannot be used (one paragraph: exit 2), or None.

    BASE named on a command line that does not exist, or is not a results or baseline folder, is a
    mistake (a typo would otherwise silently run everything). The action's first run has nothing
    restored yet: with ``missing_ok`` a missing (or empty) folder runs every test with one line.
    """
    known = (MAP_FILE, "baseline.json", "summary.json")
    try:
        if base.is_dir():
            if any((base / name).exists() for name in known):
                return None
            if missing_ok and not any(base.iterdir()):
                return None
            return (f"--affected {base}: the folder holds none of {', '.join(known)}, so it is not a results "
                    "folder or a baseline. Give the results folder of a run with --record-map (or the baseline "
                    "folder it was stored in with --baseline DIR); on a CI's first run, when nothing has been "
                    "stored yet, add --affected-missing-ok to run every test instead.")
        if not base.exists():
            if missing_ok:
                return None
            return (f"--affected {base}: no such folder. Give the results folder of a run with --record-map (or "
                    "the baseline folder it was stored in with --baseline DIR); on a CI's first run, when nothing "
                    "has been stored yet, add --affected-missing-ok to run every test instead.")
        return (f"--affected {base}: not a folder. Give the folder that holds {MAP_FILE} (a results folder of a "
                "run with --record-map, or a baseline folder), not a file in it.")
    except OSError as exc:
        return f"--affected {base}: cannot be read ({exc.strerror or exc}). Give a results or baseline folder."


Loaded = Union[TestMap, MapError]


def load(base_results: Path) -> Loaded:
    """The base's map, or why there is none (read before the run claims, and may empty, its folder)."""
    try:
        return read(base_results / MAP_FILE)
    except MapError as exc:
        return exc


def prepare(project: Project, loaded: Optional[Loaded], base_results: Path, results: Path) -> Prepared:
    """Decide what an ``--affected`` run runs; write the plugin's selection file unless everything runs."""
    sel = Selection()
    testmap = loaded if loaded is not None else load(base_results)
    if isinstance(testmap, MapError):
        sel.run_all, sel.reason = True, str(testmap)
        return Prepared(sel, None)
    excluded = [results, base_results]
    changes = None
    if testmap.base_commit:
        changes = changes_since(project.repo_root, testmap.base_commit, excluded)
    if changes is None and testmap.base_commit:
        sel.run_all, sel.reason = True, (f"git cannot compare with the map's commit {testmap.base_commit[:12]} "
                                         "(not in this clone? fetch it, e.g. actions/checkout's fetch-depth: 0)")
        return Prepared(sel, None)
    sel = select(testmap, changes or [], _python_sources(project, excluded), _project_folder(project), __version__)
    if sel.run_all:
        return Prepared(sel, None)
    path = results / SELECTION_FILE
    path.write_text(json.dumps({"nodeids": sorted(sel.nodeids), "test_files": sorted(sel.test_files),
                                "known": testmap.tests}), encoding="utf-8")
    return Prepared(sel, path, frozenset(c.path for c in changes or []),
                    {c.path: tuple(c.hunks) for c in changes or [] if c.status == MODIFIED and c.hunks})


def counts(prepared: Optional[Prepared]) -> tuple[Optional[int], Optional[int]]:
    """(selected, collected) as the plugin counted them; (None, None) when it did not."""
    if prepared is None or prepared.path is None:
        return None, None
    try:
        doc = json.loads(prepared.path.with_name(prepared.path.name + COUNTS_SUFFIX).read_text(encoding="utf-8"))
        return int(doc["selected"]), int(doc["collected"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def left_out(prepared: Optional[Prepared]) -> Optional[List[str]]:
    """The collected tests the plugin left out, as it listed them; None when it did not."""
    if prepared is None or prepared.path is None:
        return None
    try:
        doc = json.loads(prepared.path.with_name(prepared.path.name + COUNTS_SUFFIX).read_text(encoding="utf-8"))
        return [str(n) for n in doc["left_out"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _extra(prepared: Optional[Prepared], loaded: Optional[Loaded]) -> Union[Tuple[TestMap, Extra], str]:
    """The map and the left-out tests' lines it holds, at the head's line numbers (carryforward.py), or why not."""
    if prepared is None or prepared.path is None or not isinstance(loaded, TestMap):
        return "every test ran"
    out = left_out(prepared)
    if out is None:
        return "the run did not say which tests it left out"
    never = (prepared.moved | set(prepared.selection.changed)) - set(prepared.remaps)
    extra = extra_lines(loaded, out, never, prepared.remaps)
    return extra if isinstance(extra, str) else (loaded, extra)


def carry_forward(prepared: Optional[Prepared], loaded: Optional[Loaded], coverage: Coverage,
                  every_file: bool) -> Union[Carried, str]:
    """The run's coverage with the left-out tests' lines carried forward from the base's map
    (carryforward.py), or why not (one line)."""
    found = _extra(prepared, loaded)
    if isinstance(found, str):
        return found
    testmap, extra = found
    return apply(coverage, extra, testmap.base_commit, every_file)


def write_carry(prepared: Optional[Prepared], loaded: Optional[Loaded], results: Path) -> str:
    """A shard of an --affected run: the left-out tests' lines (carryforward.extra_lines) beside its results,
    which async-test combine adds to the merged shards' coverage; the line the console prints."""
    found = _extra(prepared, loaded)
    if isinstance(found, str):
        return found
    testmap, extra = found
    document = {"base_commit": testmap.base_commit,
                "files": {path: {kind: sorted(lines) for kind, lines in by_kind.items()}
                          for path, by_kind in sorted(extra.items())}}
    (results / CARRY_FILE).write_text(json.dumps(document), encoding="utf-8")
    return ""


def read_carry(folder: Path) -> Union[Tuple[Optional[str], Extra], str]:
    """A shard's CARRY_FILE (untrusted, as every file of a results folder): (base commit, lines), or why not."""
    from ..untrusted_files import UnusableFile, read_regular

    try:
        doc = json.loads(read_regular(folder / CARRY_FILE, CARRY_LIMIT).decode("utf-8"))
        commit = doc["base_commit"]
        files: Extra = {}
        for path, by_kind in doc["files"].items():
            files[str(path)] = {kind: {int(n) for n in by_kind[kind]} for kind in ("unit", "integration")}
        if commit is not None and not isinstance(commit, str):
            raise TypeError("base_commit")
        return commit, files
    except FileNotFoundError:
        return f"{folder.name} holds no {CARRY_FILE} (a shard of an older async-test, or one that carried nothing)"
    except (UnusableFile, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return f"{folder / CARRY_FILE} is not readable ({type(exc).__name__})"


def record(coverage_file: Path, results: Path, project: Project, ran: Iterable[str], failed: Iterable[str]) -> str:
    """Write ``testmap.json`` from the session's per-test contexts; the line the console prints."""
    if not coverage_file.exists():
        return "async-test: no test map recorded: the session wrote no coverage data"
    testmap = build(coverage_file, project.repo_root, project.root, ran, failed, __version__)
    write(testmap, results / MAP_FILE)
    size = (results / MAP_FILE).stat().st_size
    return (f"async-test: test map recorded: {len(testmap.tests)} tests, {len(testmap.files)} files "
            f"({size / 1024:.0f} KiB, {MAP_FILE})")


def store_with_baseline(results: Path, folder: Path) -> str:
    """Copy the run's map into the baseline folder (baseline/'s layout keeps ``testmap.json`` for it),
    so ``--affected BASELINE_DIR`` finds it beside baseline.json; the line the console prints."""
    source = results / MAP_FILE
    if not source.exists():
        return f"async-test: no test map to store in {folder} (it needs coverage and one session)"
    tmp = folder / (MAP_FILE + ".tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tmp)
        os.replace(tmp, folder / MAP_FILE)
    except OSError as exc:  # the run's own result stands, as for the baseline beside it
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return f"async-test: test map not stored in {folder}: {exc.strerror or exc}"
    return f"async-test: test map stored with the baseline: {folder / MAP_FILE}"
