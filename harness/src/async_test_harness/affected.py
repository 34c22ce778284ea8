"""Which tests a change can affect, or why every test must run: ``async-test run --affected``.

Pure: given the map of the base (testmap.py), the changed files with their changed lines (numbered
as in the base, where the map's functions are), the project's Python sources at the head (for the
import graph) and the current harness version, ``select`` answers with node ids and test files to run,
or with ``run_all`` and the one-line reason. The runner (runner/affected_run.py) feeds it git's diff
and hands the answer to the plugin (plugin/affected.py), which narrows the collected tests.

The rules, safest first:

* Anything coverage does not measure that can change behaviour runs everything: lock and
  requirements files, pyproject/setup files, pytest and coverage configuration, ``conftest.py``,
  migrations and alembic files, SQL, ``.env`` and settings files, and any other file of the project
  that is not Python or documentation (a template, a JSON fixture: no coverage says who reads it).
* A changed line inside a function's body selects the tests that entered that function; a
  function no test entered selects none (its body runs only when called).
* A changed line at a module's top level (imports, constants, class bodies, decorators, signatures)
  or inside a function that ran at import time (outside every test) selects every test that ran any
  of the module's code or any code of a module that imports it, directly or through others, and
  every test in a test file or under a conftest.py that imports it: a constant read elsewhere flows
  only through importers. A deleted module is all top-level.
* A changed Python file that no recorded test ran and nothing imports runs everything: the map
  cannot say who uses it (an entry point, a module imported by name).
* Changed and new test files run whole; tests the map does not know (new ones) always run; tests
  that failed on the base always run.
"""

from __future__ import annotations

import ast
import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from .testmap import MODULE, TestMap, block_of

ADDED, MODIFIED, DELETED = "added", "modified", "deleted"
COUNTS_SUFFIX = ".counts.json"  # the plugin's count of what it kept, beside the selection file

# Files whose change can alter any test's behaviour while coverage never sees them run.
BEHAVIOUR_NAMES = (
    "uv.lock", "poetry.lock", "pdm.lock", "Pipfile", "Pipfile.lock", "pylock.toml", "pylock.*.toml",
    "requirements*.txt", "requirements*.in", "constraints*.txt", "pyproject.toml", "setup.py", "setup.cfg",
    "tox.ini", "pytest.ini", "pytest.toml", ".pytest.ini", ".coveragerc", "conftest.py", "alembic.ini",
    ".env", ".env.*", "*.env", "*.sql", "settings.*", "config.*", "noxfile.py", ".python-version",
)
BEHAVIOUR_FOLDERS = ("migrations", "alembic")
# Files that change no test's behaviour (never a reason to run everything).
INERT_NAMES = ("*.md", "*.rst", "*.txt", "LICENSE*", "COPYING*", "CHANGELOG*", "AUTHORS*", ".gitignore",
               ".gitattributes", ".dockerignore", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.ico")
INERT_FOLDERS = ("docs", ".github")
TEST_FILE_PATTERNS = ("test_*.py", "*_test.py")  # pytest's default python_files


@dataclass
class Change:
    """One changed file, repository-relative; ``lines``: the base's line numbers the change touches
    (an insertion touches the lines on both sides of it)."""

    path: str
    status: str = MODIFIED
    lines: Set[int] = field(default_factory=set)
    # git's hunks, (base start, base count, head start, head count): how the base's line numbers move
    hunks: List[Tuple[int, int, int, int]] = field(default_factory=list)


@dataclass
class Selection:
    run_all: bool = False
    reason: str = ""  # why everything runs (one line), when run_all
    nodeids: Set[str] = field(default_factory=set)  # project-relative node ids, as pytest names them
    test_files: Set[str] = field(default_factory=set)  # project-relative test files to run whole
    changed: List[str] = field(default_factory=list)  # the changed files that count (inert ones left out)
    notes: List[str] = field(default_factory=list)  # what was decided per file, for the log

    def describe(self, ran: Optional[int], collected: Optional[int]) -> str:
        """The summary's line: "ran 37 of 1,204 tests (affected by 2 changed files)"."""
        files = f"{len(self.changed)} changed file{'' if len(self.changed) == 1 else 's'}"
        if self.run_all:
            return f"ran every test: {self.reason}"
        if ran is None or collected is None:
            return f"ran the tests affected by {files}"
        return f"ran {ran:,} of {collected:,} tests (affected by {files})"


def _name_matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_test_file(path: str) -> bool:
    return _name_matches(posixpath.basename(path), TEST_FILE_PATTERNS)


def behaviour_reason(path: str) -> Optional[str]:
    """Why a change to ``path`` can change behaviour unseen by coverage, or None."""
    name = posixpath.basename(path)
    parts = path.split("/")[:-1]
    if name == "conftest.py":
        return f"{path} changed (a conftest.py applies to every test under it)"
    if any(p in BEHAVIOUR_FOLDERS for p in parts):
        return f"{path} changed (migrations build the schema every integration test uses)"
    if _name_matches(name, BEHAVIOUR_NAMES) and not (name.endswith(".py") and name.startswith(("settings", "config"))):
        return f"{path} changed, which coverage does not measure and which can change any test"
    return None


def _inert(path: str) -> bool:
    name = posixpath.basename(path)
    if _name_matches(name, ("requirements*.txt", "constraints*.txt")):
        return False
    return _name_matches(name, INERT_NAMES) or any(p in INERT_FOLDERS for p in path.split("/")[:-1])


def _inside(path: str, folder: str) -> bool:
    return folder in ("", ".") or path == folder or path.startswith(folder.rstrip("/") + "/")


def _project_relative(path: str, project: str) -> str:
    return path if project in ("", ".") else path[len(project.rstrip("/")) + 1:]


# ------------------------------------------------------------------ the import graph


def _module_names(path: str) -> Set[str]:
    """Every dotted name a file may be imported by: each suffix of its path (the roots on sys.path
    are unknown here, and a name too many only selects more)."""
    parts = path[:-3].split("/") if path.endswith(".py") else path.split("/")
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[i:]) for i in range(len(parts)) if parts[i:]}


def _imported_names(path: str, source: str) -> Set[str]:
    """The dotted names a module imports, with every parent package (importing a.b.c runs a and a.b)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    package = path.split("/")[:-1]
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join([*anchor, base] if base else anchor)
            if base:
                names.add(base)
            names.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    expanded: Set[str] = set()
    for name in names:
        pieces = name.split(".")
        expanded.update(".".join(pieces[:i]) for i in range(1, len(pieces) + 1))
    return expanded


def importers(sources: Dict[str, str], targets: Iterable[str]) -> Set[str]:
    """Every file of ``sources`` (path -> text) that imports one of ``targets``, directly or through others."""
    by_name: Dict[str, Set[str]] = {}
    for path in sources:
        for name in _module_names(path):
            by_name.setdefault(name, set()).add(path)
    imported_by: Dict[str, Set[str]] = {}
    for path, text in sources.items():
        for name in _imported_names(path, text):
            for target in by_name.get(name, ()):
                if target != path:
                    imported_by.setdefault(target, set()).add(path)
    found: Set[str] = set()
    todo = [t for t in targets]
    while todo:
        for importer in imported_by.get(todo.pop(), ()):
            if importer not in found:
                found.add(importer)
                todo.append(importer)
    return found


# ------------------------------------------------------------------ the selection


def check_map(testmap: TestMap, project: str, harness_version: str) -> Optional[str]:
    """Why the map cannot be trusted for this run, or None."""
    if testmap.harness_version != harness_version:
        return (f"the map was recorded by async-test {testmap.harness_version or '(unknown)'}, "
                f"this is {harness_version}")
    if testmap.project != project:
        return f"the map is of the project in {testmap.project!r}, this run's is {project!r}"
    if not testmap.base_commit:
        return "the map was recorded outside a git repository: no base commit to compare with"
    if testmap.dirty:
        return "the map was recorded on a tree with uncommitted changes: no commit describes it"
    return None


def select(testmap: TestMap, changes: List[Change], sources: Dict[str, str], project: str,
           harness_version: str) -> Selection:
    """The tests ``changes`` can affect (see the module's docstring for the rules).

    ``sources``: the head's Python files of the project (repository-relative path -> text), for the
    import graph; ``project``: the project folder, repository-relative ("." for the root).
    """
    sel = Selection()
    why = check_map(testmap, project, harness_version)
    if why:
        return _all(sel, why)
    known_tests = set(testmap.tests)
    for change in sorted(changes, key=lambda c: c.path):
        path = change.path
        if "__pycache__" in path.split("/") or path.endswith((".pyc", ".pyo")):
            continue
        if _inert(path) and not behaviour_reason(path):
            sel.notes.append(f"{path}: documentation, no test reads it")
            continue
        sel.changed.append(path)
        reason = behaviour_reason(path)
        if reason:
            return _all(sel, reason)
        inside = _inside(path, project)
        if not path.endswith(".py"):
            if inside:
                return _all(sel, f"{path} changed: not Python, so coverage cannot say which tests read it")
            sel.notes.append(f"{path}: outside the project, not Python")
            continue
        if inside and is_test_file(path):
            if change.status != DELETED:
                sel.test_files.add(_project_relative(path, project))
            sel.notes.append(f"{path}: test file, runs whole")
            continue
        entry = testmap.files.get(path)
        blocks: Set[int] = set()
        # A file no recorded test ran any line of is read as a top-level change: its importers decide,
        # and with none the whole suite runs (a function in it changed says nothing about who calls it).
        top_level = change.status in (ADDED, DELETED) or entry is None or not testmap.tests_touching(path)
        if entry is not None and not top_level:
            ranges = [(int(a), int(b)) for a, b in entry["functions"]]
            import_time = {int(b) for b in entry.get("import_time", [])}
            for line in change.lines:
                block = block_of(ranges, line)
                if block == MODULE or block in import_time:
                    top_level = True
                else:
                    blocks.add(block)
        found = testmap.tests_of(path, blocks)
        if top_level:
            dependants = importers(sources, [path])
            found |= testmap.tests_touching(path)
            for other in dependants:
                found |= testmap.tests_touching(other)
                if _inside(other, project) and is_test_file(other):
                    sel.test_files.add(_project_relative(other, project))
                elif posixpath.basename(other) == "conftest.py":
                    folder = _project_relative(posixpath.dirname(other), project) if _inside(other, project) else None
                    if folder is None:
                        continue
                    found |= {t for t in known_tests if folder in ("", ".") or t.startswith(folder + "/")}
            if not found and not any(is_test_file(d) for d in dependants) and not testmap.tests_touching(path):
                what = "new" if change.status == ADDED else ("deleted" if change.status == DELETED else "changed")
                return _all(sel, f"{path} ({what}) is run by no recorded test and imported by no module: "
                                 "the map cannot say which tests use it")
            sel.notes.append(f"{path}: top-level code, {len(found)} test(s) through {len(dependants)} importer(s)")
        else:
            sel.notes.append(f"{path}: {len(blocks)} function(s), {len(found)} test(s)")
        sel.nodeids |= found
    sel.nodeids |= set(testmap.failed)
    return sel


def _all(sel: Selection, reason: str) -> Selection:
    sel.run_all, sel.reason = True, reason
    sel.nodeids, sel.test_files = set(), set()
    return sel


# ------------------------------------------------------------------ git's diff

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_diff(text: str) -> List[Change]:
    """``git diff --no-renames -U0`` output as changes, each with the base's touched line numbers."""
    changes: List[Change] = []
    current: Optional[Change] = None
    for line in text.splitlines():
        if line.startswith("diff --git "):
            header = line[len("diff --git "):]
            current = Change(path=header.split(" b/", 1)[1] if " b/" in header else "", status=MODIFIED)
            changes.append(current)
        elif current is None:
            continue
        elif line.startswith("new file mode"):
            current.status = ADDED
        elif line.startswith("deleted file mode"):
            current.status = DELETED
        elif line.startswith("--- "):
            if line[4:] != "/dev/null":
                current.path = _strip_prefix(line[4:])
        elif line.startswith("+++ "):
            if line[4:] != "/dev/null":
                current.path = _strip_prefix(line[4:])
        else:
            match = _HUNK.match(line)
            if match:
                start, count = int(match.group(1)), int(match.group(2) if match.group(2) is not None else 1)
                current.hunks.append((start, count, int(match.group(3)),
                                      int(match.group(4) if match.group(4) is not None else 1)))
                if count == 0:  # an insertion after line `start`: the lines either side
                    current.lines.update(n for n in (start, start + 1) if n > 0)
                else:
                    current.lines.update(range(start, start + count))
    return [c for c in changes if c.path]


def _strip_prefix(name: str) -> str:
    name = name.rstrip("\t")
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
            "latin-1").decode("utf-8", "replace")
    return name[2:] if name.startswith(("a/", "b/")) else name
