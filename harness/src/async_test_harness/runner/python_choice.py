"""Which Python the tests run on inside the image: the image's own, or one uv finds or installs.

An image has one Python. A project whose ``requires-python`` excludes it used to be refused, and
a ``docker run`` user had to find and build another image. The runner and pytest need not share
an interpreter (the runner starts pytest with ``--python``), so the test environment can be
made with any Python uv can find in the image or install (python-build-standalone, kept in the
cache mount as ``/cache/python``). Refused, as before, only when none can be had.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from . import dependencies


class PythonRefused(Exception):
    """No Python the project allows can be had; the message is the paragraph to show (exit 2)."""


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    why: Optional[str] = None  # set when it is not the image's own: the line the log shows


def _version_of(path: str, env: Mapping[str, str]) -> Optional[str]:
    try:
        done = subprocess.run([path, "-c", "import platform; print(platform.python_version())"], env=dict(env),
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def choose(root: Path, cache: Path, downloads: bool, env: Mapping[str, str],
           say: Callable[[str], None] = print) -> Interpreter:
    """The image's Python when the project allows it, else one uv finds or (``downloads``) installs."""
    refusal = dependencies.python_mismatch(root)
    if refusal is None:
        return Interpreter(sys.executable, platform.python_version())
    wanted = dependencies.requires_python(root) or ""
    uv_env = dict(env, UV_PYTHON_INSTALL_DIR=str(cache / "python"), UV_PYTHON_DOWNLOADS="never")

    def find() -> str:
        """The path of a Python ``wanted`` allows, in the image or already installed by uv; "" if none."""
        done = subprocess.run(["uv", "python", "find", "--no-project", wanted], env=uv_env, capture_output=True,
                              text=True)
        lines = done.stdout.strip().splitlines() if done.returncode == 0 else []
        return lines[-1] if lines else ""

    path = find()
    tried = ""
    if not path and downloads:
        from packaging.specifiers import SpecifierSet

        spec = SpecifierSet(wanted)
        for candidate in dependencies.allowed_pythons(spec)[-1:]:  # the newest it allows
            say(f"the project requires Python {wanted} and the image has {platform.python_version()}: installing "
                f"Python {candidate} with uv into {cache / 'python'} (kept with the cache mount)")
            done = subprocess.run(["uv", "python", "install", candidate],
                                  env=dict(uv_env, UV_PYTHON_DOWNLOADS="manual"), capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                tried = f" uv could not install Python {candidate} ({tail[0][:200]})."
            path = find()
    version = _version_of(path, env) if path else None
    if not path or not version or dependencies.python_mismatch(root, version):
        how = ("" if downloads else " Set ASYNC_TEST_PYTHON_DOWNLOADS=true to let uv install one (it needs GitHub, "
               "where python-build-standalone is published).")
        raise PythonRefused(f"{refusal.rsplit(' Exit code', 1)[0]}{tried}{how} Exit code 2.")
    return Interpreter(path, version, f"the project requires Python {wanted}; the tests run on Python {version} "
                                      f"({path}), the harness's runner on the image's {platform.python_version()}")
