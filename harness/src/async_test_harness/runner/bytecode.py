"""Where the tests' Python bytecode goes: never into the project's tree, and compiled once.

The runner starts pytest with ``PYTHONDONTWRITEBYTECODE=1`` so that no ``__pycache__`` appears
in the user's tree. With an environment installed *with* bytecode (pip's default) that costs
nothing: the bytecode there is read. With one installed *without* (uv's default), every run
compiled pytest, SQLAlchemy, FastAPI and the project from source, about 4 s for a service's
imports on this machine, where a plain ``pytest`` compiles once and keeps ``__pycache__``. For
such an environment the tests get ``PYTHONPYCACHEPREFIX`` instead: Python writes and reads
bytecode in a mirror tree under the harness's cache, so nothing lands in the project and the
second run compiles nothing. Not for an environment that has bytecode: under a prefix, Python
reads only the prefix, so a one-shot CI run would compile everything the install had compiled.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Dict, Mapping, Optional

OFF = "off"


def default_cache(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "async-test" / "pycache"


def installed_without_bytecode(python: str) -> bool:
    """Whether this interpreter's pytest has no bytecode next to it (uv installs none by default).

    Only asked of the interpreter running this code (a different ``--python`` keeps the default:
    asking it would start one more interpreter on every run).
    """
    if os.path.realpath(python) != os.path.realpath(sys.executable) or sys.pycache_prefix:
        return False
    spec = importlib.util.find_spec("pytest")
    if spec is None or not spec.origin:
        return False
    return not os.path.exists(importlib.util.cache_from_source(spec.origin))


def environment(env: Mapping[str, str], setting: Optional[str], python: str = sys.executable) -> Dict[str, str]:
    """The variables the pytest processes get: a prefix, or no bytecode written at all.

    The user's own ``PYTHONPYCACHEPREFIX`` or ``PYTHONDONTWRITEBYTECODE`` wins; ``setting`` is the
    ``bytecode_cache`` option: a folder (always a prefix there), ``off`` (never), or None: a prefix
    under the cache home when the environment has no bytecode of its own. A folder that cannot be
    created or written means no bytecode, never a failed run.
    """
    if env.get("PYTHONPYCACHEPREFIX") or env.get("PYTHONDONTWRITEBYTECODE"):
        return {}
    if setting == OFF or (setting is None and not installed_without_bytecode(python)):
        return {"PYTHONDONTWRITEBYTECODE": "1"}
    folder = Path(setting) if setting else default_cache(env)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return {"PYTHONDONTWRITEBYTECODE": "1"}
    if not os.access(folder, os.W_OK | os.X_OK):
        return {"PYTHONDONTWRITEBYTECODE": "1"}
    return {"PYTHONPYCACHEPREFIX": str(folder.resolve())}
