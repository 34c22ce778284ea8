"""Where the tests' Python bytecode goes: a cache of the harness's, never the project's tree.

The runner used to start pytest with ``PYTHONDONTWRITEBYTECODE=1`` so that no ``__pycache__``
appeared in the user's tree. That also kept bytecode out of the virtual environment: in one made
by ``uv pip install`` (no bytecode by default), every run compiled pytest, SQLAlchemy, FastAPI
and the project from source, about 4 s on this machine for a service's imports, where a plain
``pytest`` compiles once and reuses ``__pycache__``. ``PYTHONPYCACHEPREFIX`` gives both: Python
writes and reads bytecode in a mirror tree under the prefix, so nothing lands in the project and
the second run compiles nothing. (Bytecode already in ``__pycache__`` folders is not read then:
the first run fills the prefix once.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Mapping, Optional

OFF = "off"


def default_cache(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "async-test" / "pycache"


def environment(env: Mapping[str, str], setting: Optional[str]) -> Dict[str, str]:
    """The variables the pytest processes get: a prefix, or no bytecode at all.

    The user's own ``PYTHONPYCACHEPREFIX`` or ``PYTHONDONTWRITEBYTECODE`` wins; ``setting`` is the
    ``bytecode_cache`` option (a folder, ``off``, or None for the default under the cache home).
    A folder that cannot be created or written means no bytecode, as before, never a failed run.
    """
    if env.get("PYTHONPYCACHEPREFIX") or env.get("PYTHONDONTWRITEBYTECODE"):
        return {}
    if setting == OFF:
        return {"PYTHONDONTWRITEBYTECODE": "1"}
    folder = Path(setting) if setting else default_cache(env)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return {"PYTHONDONTWRITEBYTECODE": "1"}
    if not os.access(folder, os.W_OK | os.X_OK):
        return {"PYTHONDONTWRITEBYTECODE": "1"}
    return {"PYTHONPYCACHEPREFIX": str(folder.resolve())}
