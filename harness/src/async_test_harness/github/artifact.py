"""What leaves the runner as an artifact: the results folder's regular files and folders, nothing else.

The results folder is written by the project's tests (code from the pull request), and
actions/upload-artifact follows symbolic links when it reads the folder on the runner. A test that
left ``results/x -> /proc/self/environ`` or a results folder that is itself a link to the runner's
home would have the upload step publish runner files to everyone who can download the artifact.
So before an upload: a results folder reached through a link is not uploaded at all, and inside it
every link and special file (fifo, socket, device) is removed. Hard links cannot reach outside the
workspace (link(2) does not cross the container's bind mount). Standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Tuple


class NotUploadable(Exception):
    """The results folder cannot be uploaded safely; the message is one paragraph."""


def through_link(workspace: Path, relative: str) -> Optional[Path]:
    """The first component of workspace/relative that is a symbolic link, if any."""
    path = workspace
    for part in [p for p in relative.split("/") if p]:
        path = path / part
        if path.is_symlink():
            return path
    return None


def prepare(workspace: Path, relative: str) -> Tuple[int, int]:
    """Make ``workspace/relative`` safe to upload; returns (files kept, entries removed).

    NotUploadable when the folder is missing or reached through a link.
    """
    link = through_link(workspace, relative)
    if link is not None:
        raise NotUploadable(f"{relative} is reached through the symbolic link {link.relative_to(workspace)}, which "
                            "the tests could have made to point at the runner's files; nothing was uploaded. The "
                            "results folder and the folders above it must be plain folders.")
    root = workspace / relative
    if not root.is_dir():
        raise NotUploadable(f"there is no results folder at {relative}, so nothing was uploaded (the run stopped "
                            "before writing it; its log says why).")
    kept = removed = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if stat.S_ISREG(mode):
                kept += 1
                continue
            path.unlink()
            removed += 1
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]  # removed above; never walked
    return kept, removed


def write_file(folder: Path, name: str, text: str) -> Path:
    """Write ``folder/name`` as a new file put in place by rename: a link the tests left under that
    name is replaced, never written through."""
    import tempfile

    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, folder / name)
    return folder / name
