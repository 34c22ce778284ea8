"""Who the image's processes run as: never root for the tests; root kept only to seal what they must not change.

The entrypoint starts as root. The tests run as the owner of ``/workspace`` (so the results are
the user's), or, when the workspace is owned by root, as the unprivileged account
:data:`ACCOUNT` (uid :data:`ACCOUNT_UID`): "never as root" holds whoever owns the workspace. Such
an account can write nothing in a root-owned workspace, so the folders a command writes (the
results folder) are handed over to it first; root still reads everything in them.

Between the switch and the run, root is kept in the saved set-user-ID only (``setresuid(uid, uid,
0)``): everything runs as the user, and so does every program started (``execve`` copies the
effective uid to the saved one), but this process can become root again for one thing: making the
kept test environment, once installed, root's and read-only (``seal``), so the tests cannot change
what a later run reuses (runner/venv_cache.py). ``drop`` ends that for good before the run.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ACCOUNT = "async-test-run"
ACCOUNT_UID = 10001
HOME = Path("/tmp/async-test-home")


class SealError(OSError):
    """A tree could not be made root's and read-only (a socket in it, a file gone): it is not kept."""


def _account_tool(name: str, *args: str) -> None:
    """groupadd/useradd from /usr/sbin, whatever PATH the user passed with -e (a PATH without
    /usr/sbin made the entrypoint die with a traceback); a missing name only costs the passwd entry."""
    tool = f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else name
    try:
        subprocess.run([tool, *args], check=False, capture_output=True)
    except OSError:
        pass


def ensure_account(uid: int, gid: int, name: str) -> None:
    """A passwd and group entry for ``uid``/``gid`` (tools such as getpass need one)."""
    try:
        grp.getgrgid(gid)
    except KeyError:
        _account_tool("groupadd", "--gid", str(gid), name)
    try:
        pwd.getpwuid(uid)
    except KeyError:
        _account_tool("useradd", "--uid", str(uid), "--gid", str(gid), "--no-create-home", "--home-dir",
                      str(HOME), "--shell", "/bin/sh", name)


def seal_tree(top: Path) -> None:
    """Make ``top`` and everything under it root's, writable by root only; links are not followed.

    Each entry is opened without following links (``O_NOFOLLOW``) and changed through its file
    descriptor, so swapping an entry for a link while this runs changes nothing outside ``top``.
    """
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        os.fchown(dirfd, 0, 0)
        os.fchmod(dirfd, stat.S_IMODE(os.fstat(dirfd).st_mode) & ~0o022)
        for name in filenames + dirnames:
            info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                continue  # sealed when the walk enters it
            if stat.S_ISLNK(info.st_mode):
                os.chown(name, 0, 0, dir_fd=dirfd, follow_symlinks=False)
                continue
            if not stat.S_ISREG(info.st_mode):
                raise SealError(f"{name} in {_dirpath} is neither a file, a folder nor a link")
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
            try:
                os.fchown(fd, 0, 0)
                os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~0o022)
            finally:
                os.close(fd)


def _give_tree(top: Path, uid: int, gid: int) -> None:
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        os.fchown(dirfd, uid, gid)
        for name in filenames + dirnames:
            os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)


class Privileges:
    """Root in the saved set-user-ID while the entrypoint prepares the run; ``drop`` ends it."""

    def __init__(self, uid: int, gid: int) -> None:
        self.uid = uid
        self.gid = gid
        self.dropped = False

    @contextmanager
    def root(self) -> Iterator[None]:
        if self.dropped:
            raise PermissionError("root was dropped for good before the run")
        os.seteuid(0)
        try:
            yield
        finally:
            os.seteuid(self.uid)

    def seal(self, path: Path) -> None:
        with self.root():
            seal_tree(path)

    def remove(self, path: Path) -> None:
        """Remove a tree the user cannot (a sealed environment); a link is never followed."""
        with self.root():
            if path.is_symlink():
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)

    def touch(self, path: Path) -> None:
        with self.root():
            try:
                os.utime(path, follow_symlinks=False)
            except OSError:
                pass

    def hand_over(self, folder: Path) -> bool:
        """Let the unprivileged account write ``folder`` in a root-owned workspace: created for it when
        missing; an empty folder or one of async-test's (its marker) is given to it, anything else is
        left alone (the runner refuses a foreign folder anyway). Returns whether it was handed over."""
        from .results_folder import MARKER

        with self.root():
            try:
                folder.mkdir(mode=0o755, parents=True)
            except FileExistsError:
                pass
            except OSError:
                return False
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode):
                return False
            if any(folder.iterdir()) and not (folder / MARKER).is_file():
                return False
            _give_tree(folder, self.uid, self.gid)
            os.chmod(folder, 0o755)
        return True

    def drop(self) -> None:
        """For good: real, effective and saved uid all the user's."""
        os.setresuid(self.uid, self.uid, self.uid)
        self.dropped = True


def switch(uid: int, gid: int) -> Privileges:
    """Become ``uid``/``gid`` (from root), keeping root in the saved set-user-ID only."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, 0)
    HOME.mkdir(exist_ok=True)
    os.environ["HOME"] = str(HOME)
    try:
        os.environ["USER"] = os.environ["LOGNAME"] = pwd.getpwuid(uid).pw_name
    except KeyError:
        pass
    return Privileges(uid, gid)
