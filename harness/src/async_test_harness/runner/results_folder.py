"""Writing the results folder safely: whose folder it is, one run at a time, any text, whole files or none.

Each rule here answers a way results were lost or a user's files were damaged:

* ``--results-dir docs`` cleared ``docs/html/`` and overwrote ``docs/summary.md``, because the runner
  took any folder it was given for its own. It now writes only into a folder that is new, empty, or
  marked as a results folder by the marker file it leaves when it claims one (an older version's
  results folder, holding nothing but our outputs, is adopted); anything else is refused untouched.
* Two runs on one project overwrote each other's files. A run holds an exclusive ``flock`` on a lock
  file in the folder for its whole duration; a second run is refused at once (a run takes minutes,
  so a bounded wait would almost always end in the same refusal, only later).
* One lone surrogate in a failure message (``os.fsdecode(b"\\xff")``) crashed the writer and left a
  0-byte ``summary.md``. Text is made encodable before it is written (``clean``), lossless where the
  original bytes are known.
* A full disk left a 0-byte ``summary.json`` that readers took for a result. Files are written to a
  temporary name in the same folder, flushed to disk, then renamed over the real name
  (``write_atomically``): a reader sees the whole file or none.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Dict, Iterable, List, Optional

MARKER = ".async-test-results"
MARKER_TEXT = ("This folder holds the results of async-test run, which rewrites its own files here on every run\n"
               "(files you add are left alone). This file marks the folder as async-test's: without it, a folder\n"
               "holding anything but async-test's results is refused, untouched.\n")
LOCK = ".async-test.lock"
GITIGNORE_TEXT = "*\n"
TEMP_SUFFIX = ".async-test-tmp"
# What a results folder may hold besides the runner's own result files (OUR_OUTPUTS in run_state.py):
# the coverage HTML, pytest's cache (cache_dir points here), coverage.py's data files and journals
# (xdist leaves ``.coverage.unit.HOST.PID.RAND`` when a worker dies), and our own bookkeeping.
FOLDER_ENTRIES = frozenset({"html", ".pytest_cache", ".gitignore", ".write-test", MARKER, LOCK})


class ResultsDirError(Exception):
    """The results folder cannot be used; the message is one paragraph saying why and what to do."""


# ------------------------------------------------------------------ text


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # U+DC80..U+DCFF is how Python decodes an undecodable byte (surrogateescape, os.fsdecode): show the byte.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate written as a visible escape, so it encodes as UTF-8.

    Such text comes from bytes that were not UTF-8 (test output, file names, parametrize ids) and
    cannot be encoded strictly, which is what crashed the writers; replacing it with U+FFFD would
    lose the byte, ``\\xff`` keeps it.
    """
    return _SURROGATE.sub(_escape_surrogate, text) if _SURROGATE.search(text) else text


def clean(value: Any) -> Any:
    """A JSON-like value with ``clean_text`` applied to every string, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def printable(text: str) -> str:
    """``clean_text``, and control characters (NUL, ESC, ...) but tab and newline as ``\\xNN``.

    For files people open (summary.md): a NUL ends the text in many viewers and an escape sequence
    would restyle a terminal that prints the file.
    """
    text = clean_text(text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if _CONTROL.search(text) else text


def dumps(value: Any) -> str:
    """JSON for the results folder: cleaned text, ASCII only, so any reader's decoder accepts it."""
    return json.dumps(clean(value), indent=2) + "\n"


# ------------------------------------------------------------------ whole files or none


def write_atomically(files: Dict[Path, str]) -> None:
    """Write each file whole or not at all, all of them or none.

    Every file goes to a temporary name in its own folder (so the rename cannot cross file systems),
    is flushed to disk (``fsync``: a full disk or a failing device may only report at that point),
    and only when all are written are they renamed over the real names. On an error the temporary
    files are removed and the error is raised; the real names are untouched.
    """
    written: List[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
            written.append((temp, path))
            with open(temp, "wb") as handle:
                handle.write(clean_text(text).encode("utf-8", "backslashreplace"))
                handle.flush()
                os.fsync(handle.fileno())
        for temp, path in written:
            os.replace(temp, path)
    except BaseException:
        for temp, _ in written:
            try:
                temp.unlink()
            except OSError:
                pass
        raise


# ------------------------------------------------------------------ whose folder


def _is_ours_by_contents(folder: Path, outputs: Iterable[str], entries: List[str]) -> bool:
    """An older version's results folder: nothing but our outputs, and one of our signatures.

    Versions before the marker file wrote ``.gitignore`` (``*``) first whenever they created the
    folder, and ``summary.json`` last; either, with nothing unknown beside it, identifies one.
    """
    known = set(outputs) | FOLDER_ENTRIES
    if any(name not in known and not name.startswith(".coverage") and not name.endswith(TEMP_SUFFIX)
           for name in entries):
        return False
    try:
        if (folder / ".gitignore").read_text(encoding="utf-8", errors="replace") == GITIGNORE_TEXT:
            return True
    except OSError:
        pass
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8", errors="replace"))
        return bool(summary.get("tool", {}).get("name") == "async-test")
    except (OSError, ValueError, AttributeError):
        return False


def _refuse_foreign(folder: Path, entries: List[str]) -> ResultsDirError:
    shown = ", ".join(sorted(entries)[:4]) + (f" and {len(entries) - 4} more" if len(entries) > 4 else "")
    return ResultsDirError(
        f"The results folder {folder} already exists and holds files async-test did not write ({shown}). "
        f"async-test empties and rewrites its results folder on every run, so it only uses a folder that is new, "
        f"empty, or one it made (marked by a {MARKER} file); it has changed nothing here. Choose a new or empty "
        f"folder with --results-dir (the default is .async-test in the project), or, if this is an old results "
        f"folder, delete it yourself."
    )


class ResultsFolder:
    """A results folder this run may write into: claimed, locked, emptied of the last run's results."""

    def __init__(self, path: Path, lock: IO[str]) -> None:
        self.path = path
        self._lock: Optional[IO[str]] = lock

    def release(self) -> None:
        """Drop the lock (closing the file releases the flock); the lock file stays, empty of meaning."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _not_writable(folder: Path, exc: OSError) -> ResultsDirError:
    return ResultsDirError(
        f"The results folder {folder} is not writable ({exc.strerror or exc}). Choose another with "
        "--results-dir, or fix its permissions."
    )


def check_claimable(folder: Path, outputs: Iterable[str]) -> List[str]:
    """Refuse ``folder`` as ``claim`` would, changing nothing; its entries (none when it does not exist).

    ``async-test combine`` asks first, before it builds its results beside the folder, so a folder
    that would be refused is refused before the work rather than after it.
    """
    outputs = list(outputs)
    if folder.exists() and not folder.is_dir():
        raise ResultsDirError(
            f"The results folder {folder} is a file, not a folder; async-test will not replace it. Choose a "
            "folder with --results-dir."
        )
    try:
        entries = sorted(os.listdir(folder)) if folder.is_dir() else []
    except OSError as exc:
        raise _not_writable(folder, exc) from None
    if entries and MARKER not in entries and not _is_ours_by_contents(folder, outputs, entries):
        raise _refuse_foreign(folder, entries)
    return entries


def claim(folder: Path, outputs: Iterable[str]) -> ResultsFolder:
    """Make ``folder`` this run's results folder, or refuse without changing anything in it.

    Order matters: ownership is decided before anything is written, the lock is taken before
    anything is deleted, and only our own outputs are deleted (the previous run's, so that no stale
    file is taken for this run's result).
    """
    outputs = list(outputs)
    entries = check_claimable(folder, outputs)
    marked = MARKER in entries
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not marked:
            write_atomically({folder / MARKER: MARKER_TEXT})
        lock = open(folder / LOCK, "a+", encoding="utf-8")
    except OSError as exc:
        raise _not_writable(folder, exc) from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise _not_writable(folder, exc) from None
        raise ResultsDirError(
            f"Another async-test run ({holder}) is using the results folder {folder}. Two runs in one folder "
            "would overwrite each other's results, so this run stopped before running anything. Wait for the "
            "other run to finish, or give this one its own folder with --results-dir."
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}, started {datetime.now().astimezone().isoformat(timespec='seconds')}\n")
    lock.flush()
    try:
        gitignore = folder / ".gitignore"
        if not gitignore.exists():
            write_atomically({gitignore: GITIGNORE_TEXT})
        for name in outputs:
            (folder / name).unlink(missing_ok=True)
        for name in entries:
            if name.endswith(TEMP_SUFFIX):  # a run killed while it wrote
                (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / "html", ignore_errors=True)
    except OSError as exc:
        lock.close()
        raise _not_writable(folder, exc) from None
    return ResultsFolder(folder, lock)
