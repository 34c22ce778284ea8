"""The whole test environment kept in the dependency cache, keyed on what it was installed from.

A warm uv cache still resolves, unpacks and links every package on every ``docker run`` (seconds
for a service's few hundred MB). A project whose lock file, requirements and settings have not
changed gets the same environment anyway, so it is kept under ``CACHE/venvs/KEY`` (the ``/cache``
mount, a Docker volume locally, the action's cache on GitHub) and reused as it is.

The key is a hash of everything that decides what gets installed: the files the source reads
(the lock file, ``pyproject.toml``, requirements files and the files they include), the settings
that choose from them (groups, extras, requirements), the index variables, the interpreter and
the harness wheel. An environment counts only once its install finished (a marker file written
last); two containers sharing a cache serialise on a lock file per key. The least recently used
environments beyond :data:`KEEP` are removed, so the cache does not grow without bound.

Not kept: an environment made by ``ASYNC_TEST_INSTALL`` (what the command reads is unknown), or
any with ``ASYNC_TEST_VENV_CACHE=false``.

The tests must not be able to change what a later run reuses (a ``.pth`` file planted in
site-packages runs in every later interpreter). So once installed, an environment is sealed:
owned by root, writable by root only, its bytecode compiled in (runner/privileges.py), while the
tests never run as root. Before every reuse, ``unsealed`` checks that this still holds for every
file (and for the interpreter under the cache it was made with); anything else (a file of
another owner, one writable by others, a link in place of the folder, another key's marker) makes
the run install afresh, saying why. Two projects with the same key share an environment only
because it is sealed: neither's tests can change it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

from ..settings import ContainerSettings
from . import dependencies, own_package

KEEP = 3  # environments kept per cache: a branch switch back and forth stays warm
MARKER = ".async-test-ready"
INDEX_VARIABLES = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS",
                   "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)[=\s]\s*(\S+)", re.MULTILINE)


def source_files(root: Path, settings: ContainerSettings) -> List[Path]:
    """The files an install of ``root`` reads, by the source ``dependencies.detect`` chooses."""
    kind = dependencies.detect(root, settings)
    files: List[Path] = []
    if kind in dependencies.LOCK_FILES:
        files = [root / kind, root / "pyproject.toml"]
    elif kind in ("hashed-requirements", "requirements", "pyproject"):
        files = dependencies.requirement_files(root, settings)
        if dependencies.has_project_table(root / "pyproject.toml"):
            files.append(root / "pyproject.toml")
    seen: List[Path] = []
    todo = list(files)
    while todo:  # requirement files include others (-r base.txt): a change there changes the install
        path = todo.pop(0)
        if path in seen:
            continue
        seen.append(path)
        if path.suffix == ".txt":
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            todo += [(path.parent / name).resolve() for name in INCLUDE.findall(text)]
    return seen


def key(root: Path, settings: ContainerSettings, wheel: Path, env: Mapping[str, str],
        python: str = sys.executable) -> str:
    """The hash that names an environment: equal keys install the same packages."""
    digest = hashlib.sha256()

    def add(label: str, value: bytes) -> None:
        digest.update(f"{label}:{len(value)}:".encode())
        digest.update(value)

    same = os.path.realpath(python) == os.path.realpath(sys.executable)
    add("python", f"{platform.python_version() if same else ''} {os.path.realpath(python)}".encode())
    add("harness", wheel.read_bytes())
    add("settings", json.dumps([settings.requirements, settings.extras, settings.groups]).encode())
    if settings.install_after:
        add("install_after", settings.install_after.encode())
    if settings.install_project and own_package.is_package(root):  # its .pth points at this folder
        add("project", str(root.resolve()).encode())
        for name in ("setup.py", "setup.cfg"):  # its metadata (entry points) may come from these
            if (root / name).is_file():
                add(name, (root / name).read_bytes())
    for name in INDEX_VARIABLES:
        add(name, env.get(name, "").encode())
    for path in source_files(root, settings):
        try:
            add(os.path.relpath(path, root), path.read_bytes())
        except OSError:
            add(os.path.relpath(path, root), b"<missing>")
    return digest.hexdigest()[:24]


@dataclass(frozen=True)
class Entry:
    """One kept environment: ``path`` holds it, ``ready`` says it finished installing."""

    path: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def ready(self) -> Optional[Dict[str, Any]]:
        try:
            data = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and (self.path / "bin" / "python").exists() else None

    def mark_ready(self, source: str) -> None:
        (self.path / MARKER).write_text(json.dumps({"source": source, "created": time.time(), "key": self.path.name}),
                                        encoding="utf-8")

    def unsealed(self) -> Optional[str]:
        """Why this environment cannot be reused as it is; None when it is still as sealed."""
        try:
            info = os.lstat(self.path)
        except OSError as exc:
            return f"it cannot be read ({exc.strerror})"
        if not stat.S_ISDIR(info.st_mode):
            return "it is not a folder"
        data = self.ready() or {}
        if data.get("key") != self.path.name:
            return "its marker names another environment"
        problem = unsealed(self.path)
        if problem:
            return problem
        home = interpreter_home(self.path)
        if home is not None and home.parts[:len(self.path.parent.parent.parts)] == self.path.parent.parent.parts:
            return unsealed(home.parent)  # a Python uv installed into the cache: the tests must not change it either
        return None

    def touch(self) -> None:
        try:
            os.utime(self.path / MARKER)
        except OSError:
            pass  # another uid's environment, readable but not ours to touch: it is still reused

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def unsealed(top: Path) -> Optional[str]:
    """The first entry under ``top`` (included) that is not root's or is writable by another account."""
    for where, dirs, files in os.walk(top, followlinks=False):
        # the top itself, then each entry (a folder is checked as an entry of its parent)
        for name in ["", *dirs, *files] if where == str(top) else [*dirs, *files]:
            path = os.path.join(where, name) if name else where
            try:
                info = os.lstat(path)
            except OSError:
                return f"{os.path.relpath(path, top)} vanished while it was checked"
            if info.st_uid != 0:
                return f"{os.path.relpath(path, top)} is owned by uid {info.st_uid}, not root"
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o022:
                return f"{os.path.relpath(path, top)} is writable by others than root"
    return None


def interpreter_home(venv: Path) -> Optional[Path]:
    """The folder of the interpreter the environment was made with (``home`` in pyvenv.cfg)."""
    try:
        for line in (venv / "pyvenv.cfg").read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "home":
                return Path(os.path.realpath(value.strip()))
    except OSError:
        return None
    return None


def entry(cache: Path, the_key: str) -> Entry:
    return Entry(cache / "venvs" / the_key)


@contextmanager
def locked(one: Entry) -> Iterator[None]:
    """Hold the key's lock: one install at a time per key across containers sharing the cache."""
    one.path.parent.mkdir(parents=True, exist_ok=True)
    lock = one.path.parent / f"{one.path.name}.lock"
    try:
        handle = open(lock, "a")
    except OSError:
        handle = open(lock)  # read-only is enough for flock
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune(cache: Path, keep_key: str, keep: int = KEEP,
          remove: Callable[[Path], None] = lambda path: shutil.rmtree(path, ignore_errors=True)) -> List[str]:
    """Remove the least recently used environments beyond ``keep`` (never one being installed or used)."""
    root = cache / "venvs"
    found = []
    for path in root.iterdir() if root.is_dir() else []:
        if path.is_dir() and path.name != keep_key:
            marker = path / MARKER
            found.append((marker.stat().st_mtime if marker.exists() else 0.0, path))
    found.sort(reverse=True)
    removed = []
    for _, path in found[max(keep - 1, 0):]:
        lock = root / f"{path.name}.lock"
        try:
            with open(lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # in use by another container: leave it
                remove(path)
                shutil.rmtree(cache / "pycache" / str(path).lstrip("/"), ignore_errors=True)  # its bytecode
                lock.unlink(missing_ok=True)
                removed.append(path.name)
        except OSError:
            continue
    return removed
