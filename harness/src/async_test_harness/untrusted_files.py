"""Reading a file the harness did not write itself, or cannot trust: regular, bounded, inside its folder.

The durations file, and every file of a results folder ``async-test combine`` is given, may be
anything: the tests had write access to the results folder, an artifact download may bring
links, and a user may point an option at the wrong path. Each way such a file went wrong is
answered here:

* a FIFO (``mkfifo summary.json``) made ``open`` wait forever for a writer: the file is opened with
  ``O_NONBLOCK`` (which opens a FIFO at once) and refused unless ``fstat`` says it is a regular file,
  so a FIFO, a device, a socket or a directory is refused before anything is read from it;
* a link out of its folder (``summary.json -> /etc/shadow``, ``-> /dev/zero``) is refused when the
  caller names the folder the file must stay in;
* a huge file was read whole into memory: a file above the caller's limit is refused by its size,
  and at most ``limit + 1`` bytes are ever read (a file that grows while it is read included).

Standard library only: ``sharding`` and the plugin import it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional

MIB = 1024 * 1024


class UnusableFile(Exception):
    """The file cannot be used as data; the message names the file and what it is instead."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def check_inside(path: Path, folder: Path) -> None:
    """Refuse ``path`` when it is (or goes through) a link that leaves ``folder``."""
    real = os.path.realpath(path)
    base = os.path.realpath(folder)
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        raise UnusableFile(f"{path} is a link to {real}, outside its folder {folder}")


def open_regular(path: Path, limit: int, inside: Optional[Path] = None) -> int:
    """A read-only descriptor of ``path``, a regular file of at most ``limit`` bytes; the caller closes it."""
    if inside is not None:
        check_inside(path, inside)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        raise UnusableFile(f"{path} is a folder, not a file") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnusableFile(f"{path} is {_kind(info.st_mode)}, not a file")
        if info.st_size > limit:
            raise UnusableFile(f"{path} is {info.st_size / MIB:.0f} MiB, larger than the {limit / MIB:.0f} MiB "
                               "such a file ever needs")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, limit: int, inside: Optional[Path] = None) -> bytes:
    """The bytes of ``path`` (see ``open_regular``); raises UnusableFile or OSError (missing, unreadable)."""
    fd = open_regular(path, limit, inside)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnusableFile(f"{path} grew beyond {limit / MIB:.0f} MiB while it was read")
    return data
