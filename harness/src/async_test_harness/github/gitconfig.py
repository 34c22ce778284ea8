"""The runner's git checkout, shown to the test container without its credentials.

actions/checkout (``persist-credentials: true``, its default) leaves the job's token in the
checkout's ``.git/config`` as ``http.https://github.com/.extraheader = AUTHORIZATION: basic ...``
(and in each submodule's config), and other setups leave ``credential.*`` helpers or
``url.<https://TOKEN@host/>.insteadOf`` rewrites there. The whole workspace is mounted into the
test container, so the tests could read all of it. So every git directory of the workspace is
mounted read-only, and each of its config files is shadowed by a scrubbed copy (also read-only):

- dropped: the ``credential``, ``http``, ``url``, ``include`` and ``includeIf`` sections (the
  runner's transport and credential settings; the tests never fetch with them), and any key whose
  name speaks of a password, token, secret, header, cookie or auth;
- kept: everything else (``core``, ``extensions``, ``remote``, ``branch``, ``submodule``...), with
  the user and password removed from any URL in a value or subsection name.

Read-only also means the tests cannot plant configuration (``core.fsmonitor``, ``diff.external``,
a ``commondir`` file) that git commands of later steps on the runner, with the token in their
environment, would obey.

The config is read by ``git config --list -z`` (git's own parser: quoting, continuation lines,
``[section.sub]``), then written anew; without git on the runner, or for a file git cannot read,
the copy holds only ``core.repositoryformatversion = 0``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

DROPPED_SECTIONS = frozenset({"credential", "http", "url", "include", "includeif"})
SECRET_NAME = re.compile(r"pass|token|secret|header|cookie|auth|credential", re.IGNORECASE)
URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
FALLBACK = "[core]\n\trepositoryformatversion = 0\n"
NESTED_DEPTH = 2  # checkouts at the top and up to two folders down (actions/checkout's ``path``)
CONTAINER_WORKSPACE = "/workspace"

Entry = Tuple[str, Optional[str], str, Optional[str]]  # section, subsection, name, value (None: no '=')

_scratch: List[Path] = []  # folders of scrubbed copies made by this process, removed by cleanup()


def read_entries(config: Path) -> Optional[List[Entry]]:
    """The entries of one config file as git reads it (no includes); None when git cannot read it."""
    git = shutil.which("git")
    if git is None:
        return None
    env = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "HOME": tempfile.gettempdir(), "LC_ALL": "C"}
    try:
        done = subprocess.run([git, "config", "--file", str(config), "--no-includes", "--list", "-z"],
                              capture_output=True, env=env, timeout=30, cwd=tempfile.gettempdir())
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    entries: List[Entry] = []
    for record in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        key, newline, value = record.partition("\n")
        section, _, rest = key.partition(".")
        subsection, _, name = rest.rpartition(".")
        entries.append((section, subsection if "." in rest else None, name, value if newline else None))
    return entries


def _without_userinfo(text: str) -> str:
    return URL_USERINFO.sub(r"\1", text)


def scrub(entries: List[Entry]) -> List[Entry]:
    """The entries the tests may see: no credential-bearing section or key, no userinfo in URLs."""
    kept: List[Entry] = []
    for section, subsection, name, value in entries:
        if section.lower() in DROPPED_SECTIONS or SECRET_NAME.search(name):
            continue
        kept.append((section, _without_userinfo(subsection) if subsection is not None else None, name,
                     _without_userinfo(value) if value is not None else None))
    return kept


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + escaped.replace("\b", "\\b") + '"'


def render(entries: List[Entry]) -> str:
    """A config file with these entries, grouped by section in their first order."""
    sections: Dict[Tuple[str, Optional[str]], List[str]] = {}
    for section, subsection, name, value in entries:
        line = f"\t{name}" if value is None else f"\t{name} = {_quote(value)}"
        sections.setdefault((section, subsection), []).append(line)
    out: List[str] = []
    for (section, subsection), body in sections.items():
        if subsection is None:
            out.append(f"[{section}]")
        else:
            out.append(f"[{section} " + '"' + subsection.replace("\\", "\\\\").replace('"', '\\"') + '"]')
        out += body
    return "\n".join(out) + "\n" if out else ""


def scrubbed_text(config: Path) -> str:
    entries = read_entries(config)
    return FALLBACK if entries is None else render(scrub(entries))


def _plain(path: Path, workspace: Path) -> bool:
    """``path`` is where it says, inside the workspace: no symlink on the way (the checkout's content
    is the pull request's, and a link would make docker mount a runner folder into the container)."""
    try:
        return os.path.realpath(path) == os.path.join(os.path.realpath(workspace), os.path.relpath(path, workspace))
    except ValueError:
        return False


def git_dirs(workspace: Path) -> Iterator[Path]:
    """The ``.git`` of each checkout: the workspace's own and those up to NESTED_DEPTH folders down."""
    patterns = [".git"] + ["/".join(["*"] * depth + [".git"]) for depth in range(1, NESTED_DEPTH + 1)]
    for pattern in patterns:
        for candidate in sorted(workspace.glob(pattern)):
            if _plain(candidate, workspace) and (candidate.is_dir() or candidate.is_file()):
                yield candidate


def config_files(git_dir: Path) -> Iterator[Path]:
    """The config files of a git directory and of its submodules' git directories (``modules/``)."""
    if not git_dir.is_dir():
        return
    for name in ("config", "config.worktree"):
        if (git_dir / name).is_file() and not (git_dir / name).is_symlink():
            yield git_dir / name
    modules = git_dir / "modules"
    if not modules.is_dir() or modules.is_symlink():
        return
    for root, dirs, files in os.walk(modules):  # does not follow links
        if "HEAD" in files and "config" in files:
            yield from config_files(Path(root))
            dirs.clear()  # objects/, refs/...: nothing more to find; its own modules/ was searched above
        else:
            dirs.sort()


def git_mounts(workspace: Path, env: Mapping[str, str]) -> List[str]:
    """``docker run`` options: each git directory read-only, each of its configs a scrubbed copy.

    The copies go to a new folder in RUNNER_TEMP (removed by the runner after the job, and by
    ``cleanup``), else in the system's temporary folder.
    """
    workspace = Path(os.path.abspath(workspace))
    options: List[str] = []
    scratch: Optional[Path] = None
    for git_dir in git_dirs(workspace):
        inside = f"{CONTAINER_WORKSPACE}/{git_dir.relative_to(workspace).as_posix()}"
        options += ["-v", f"{git_dir}:{inside}:ro"]
        for config in config_files(git_dir):
            if scratch is None:
                parent = env.get("RUNNER_TEMP")
                scratch = Path(tempfile.mkdtemp(prefix="async-test-git-",
                                                dir=parent if parent and os.path.isdir(parent) else None))
                _scratch.append(scratch)
            copy = scratch / f"{len(options)}-{config.name}"
            copy.write_text(scrubbed_text(config), encoding="utf-8", errors="surrogateescape")
            copy.chmod(0o644)  # read by the container's user, whoever it is; it holds nothing secret now
            options += ["-v", f"{copy}:{CONTAINER_WORKSPACE}/{config.relative_to(workspace).as_posix()}:ro"]
    return options


def cleanup() -> None:
    """Remove the scrubbed copies once the container is gone."""
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)
