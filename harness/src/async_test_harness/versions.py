"""Which versions of Python and the test tools a run used, for summary.json's ``environment``.

The pytest process reports them in its events (it has imported most of them already, so asking
costs nothing extra); the runner asks the interpreter itself only when no pass reported them,
which used to be a second interpreter started beside every run. Standard library only.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Dict, Optional

# The Pythons the image is built and published for (github/image_choice.py, runner/python_choice.py,
# runner/dependencies.py; scripts/release.py keeps its own copy, which a test compares).
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")

# summary.json key -> distribution name
PACKAGES = {
    "pytest": "pytest", "pytest_asyncio": "pytest-asyncio", "sqlalchemy": "sqlalchemy", "asyncpg": "asyncpg",
    "coverage": "coverage", "pytest_cov": "pytest-cov", "harness": "async-test-harness",
}


# summary.json key -> the module whose ``__version__`` says it, once imported
MODULES = {
    "pytest": "pytest", "pytest_asyncio": "pytest_asyncio", "sqlalchemy": "sqlalchemy", "asyncpg": "asyncpg",
    "coverage": "coverage", "pytest_cov": "pytest_cov", "harness": "async_test_harness",
}


def installed() -> Dict[str, Optional[str]]:
    """The versions in this interpreter (None: not installed).

    A module already imported says its own version; importlib.metadata, which scans every
    distribution on the path (45 ms in a test venv), is asked only about the others.
    """
    found: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for key, distribution in PACKAGES.items():
        module = sys.modules.get(MODULES[key])
        known = getattr(module, "__version__", None) if module is not None else None
        found[key] = str(known) if isinstance(known, str) else _from_metadata(distribution)
    return found


def _from_metadata(distribution: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


# For another interpreter (``async-test run --python``): this module's ``installed`` as a script.
SCRIPT = (
    "import json, platform\n"
    "from importlib.metadata import version, PackageNotFoundError\n"
    "def v(n):\n"
    "    try: return version(n)\n"
    "    except PackageNotFoundError: return None\n"
    f"packages = {json.dumps(PACKAGES)}\n"
    "print(json.dumps(dict(python=platform.python_version(), **{k: v(d) for k, d in packages.items()})))\n"
)
