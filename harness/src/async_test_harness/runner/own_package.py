"""The project itself, installed editable into the test environment without writing into its tree.

``uv sync``, ``poetry install`` and ``pdm sync`` install the project as well as its dependencies,
and suites rely on it: a library that calls ``importlib.metadata.version("<its name>")`` at import,
or registers its own pytest plugin through an entry point, fails to collect with only the
dependencies installed. So a project that is a package (it names a build backend, or has a
``setup.py``) is installed too, after its dependencies and with ``--no-deps`` (they are installed
already, at their locked versions).

Editable, so the kept environment stays right while the code changes (only the metadata is
installed; the code is read from the workspace), but not built in the workspace: an editable build
writes ``*.egg-info`` (setuptools) next to the code, which would be a new file in the user's tree.
The tree is copied to a temporary folder, the editable install is made from the copy, and the
paths the install wrote (the ``.pth`` file or setuptools' finder, ``direct_url.json``) are turned
from the copy back to the workspace. A project whose build fails is not fatal: its tests ran
without it before, and the log says why it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Not part of a build, and possibly large: left out of the copy.
SKIPPED = (".git", ".hg", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".mypy_cache",
           ".pytest_cache", ".ruff_cache", ".async-test", "build", "dist", "*.egg-info", ".coverage*", "htmlcov")


def _pyproject(root: Path) -> Dict[str, Any]:
    try:
        data: Dict[str, Any] = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {}


def is_package(root: Path) -> bool:
    """Whether ``root`` is a project that its own tools would install: a build backend, or a setup.py.

    Not when the project says it is not one (uv's ``package = false``, poetry's ``package-mode = false``,
    pdm's ``distribution = false``), as ``uv sync`` and ``poetry install`` then install nothing of it.
    """
    data = _pyproject(root)
    tool = data.get("tool", {}) if isinstance(data.get("tool"), dict) else {}
    if (tool.get("uv") or {}).get("package") is False or (tool.get("poetry") or {}).get("package-mode") is False \
            or (tool.get("pdm") or {}).get("distribution") is False:
        return False
    backend = (data.get("build-system") or {}).get("build-backend") if isinstance(data.get("build-system"),
                                                                                   dict) else None
    return bool(backend) or (root / "setup.py").is_file()


def site_packages(python: str, env: Optional[Mapping[str, str]] = None) -> Path:
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, env=None if env is None else dict(env))
    return Path(out.stdout.strip())


def repoint(site: Path, copy: Path, root: Path) -> List[Path]:
    """Turn the copy's path into the workspace's in what the editable install wrote; returns the files changed.

    Backends point at the code with a ``.pth`` file (hatchling, poetry-core, flit, pdm, setuptools with
    a src layout) or a finder module (``__editable___*_finder.py``, setuptools' flat layout), and
    every installer records the source in ``direct_url.json``.
    """
    changed = []
    old, new = str(copy), str(root)
    candidates = [*site.glob("*.pth"), *site.glob("__editable__*.py"), *site.glob("*.dist-info/direct_url.json")]
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if old in text:
            path.write_text(text.replace(old, new), encoding="utf-8")
            changed.append(path)
    return changed


def install(root: Path, python: str, env: Optional[Mapping[str, str]] = None,
            say: Callable[[str], None] = print) -> bool:
    """Install the project at ``root`` editable into ``python``'s environment; False (and a note) if it failed."""
    scratch = Path(tempfile.mkdtemp(prefix="async-test-project-"))
    copy = scratch / root.name
    try:
        shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(*SKIPPED))
        step = ["uv", "pip", "install", "--python", python, "--no-deps", "--editable", str(copy)]
        say(f"installing the project itself, editable ({root.name}; built from a copy, your tree is not written)")
        done = subprocess.run(step, cwd=scratch, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
        if done.returncode != 0:
            print("\n".join(done.stdout.strip().splitlines()[-15:]), flush=True)
            say(f"note: the project itself could not be installed (uv exit {done.returncode}, see above); the tests "
                "run without it, as before: code that reads its installed version or entry points fails. Fix the "
                "build, or install it in ASYNC_TEST_INSTALL_AFTER")
            return False
        repoint(site_packages(python, env), copy, root)
        return True
    except OSError as exc:
        say(f"note: the project itself could not be installed ({exc}); the tests run without it")
        return False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

