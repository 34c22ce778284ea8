"""Finding a project's pytest root, its repository root and what coverage should measure."""

from __future__ import annotations

import configparser
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYTEST_CONFIGS = ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
NOT_PACKAGES = {"tests", "test", "testing", "docs", "examples", "build", "dist", "venv", ".venv"}


class ProjectError(ValueError):
    """The project directory cannot be used; the message says why and what to do."""


@dataclass
class Project:
    root: Path  # pytest's rootdir: where the config file is
    config_file: Optional[Path]
    repo_root: Path  # the git work tree (or root) that paths in reports are relative to
    coverage_config: Optional[Path]
    coverage_sources: List[str] = field(default_factory=list)  # empty: the coverage config decides

    def repo_relative(self, path: str) -> str:
        """A path as the repository sees it (annotations need repo-relative paths)."""
        absolute = Path(path) if Path(path).is_absolute() else self.root / path
        try:
            return absolute.resolve().relative_to(self.repo_root.resolve()).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def project_relative(self, path: str) -> Optional[str]:
        absolute = Path(path) if Path(path).is_absolute() else self.root / path
        try:
            return absolute.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None

    @property
    def path_in_repo(self) -> str:
        rel = self.repo_relative(str(self.root))
        return "" if rel == "." else rel


def _has_pytest_section(path: Path) -> bool:
    try:
        if path.name == "pytest.ini":
            return True
        if path.name == "pyproject.toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return "ini_options" in data.get("tool", {}).get("pytest", {})
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        return parser.has_section("tool:pytest" if path.name == "setup.cfg" else "pytest")
    except (OSError, ValueError, configparser.Error, tomllib.TOMLDecodeError):
        return False


def _pytest_config_in(directory: Path) -> Optional[Path]:
    for name in PYTEST_CONFIGS:
        candidate = directory / name
        if candidate.is_file() and _has_pytest_section(candidate):
            return candidate
    return None


def _coverage_config_in(directory: Path) -> Optional[Path]:
    rc = directory / ".coveragerc"
    if rc.is_file():
        return rc
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            if "coverage" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}):
                return pyproject
        except (OSError, tomllib.TOMLDecodeError):
            pass
    for name in ("setup.cfg", "tox.ini"):
        path = directory / name
        if path.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(path, encoding="utf-8")
            except configparser.Error:
                continue
            if any(s.startswith("coverage:") for s in parser.sections()):
                return path
    return None


def _coverage_config_has_source(path: Path) -> bool:
    if path.name == "pyproject.toml":
        run = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("coverage", {}).get("run", {})
        return bool(run.get("source") or run.get("source_pkgs") or run.get("include"))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    section = "run" if path.name == ".coveragerc" else "coverage:run"
    return any(parser.has_option(section, key) for key in ("source", "source_pkgs", "include"))


def _guess_sources(root: Path) -> List[str]:
    if (root / "src").is_dir():
        return ["src"]
    packages = sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in NOT_PACKAGES and not p.name.startswith(".")
    )
    return packages or ["."]


def _repo_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def find_project(path: str, cov_sources: Optional[List[str]] = None) -> Project:
    """The pytest root at or above ``path``, or in exactly one of its subdirectories."""
    start = Path(path).resolve()
    if not start.is_dir():
        raise ProjectError(f"{path} is not a directory. Give the project's directory (where pytest.ini is).")
    root, config = None, None
    for candidate in (start, *start.parents):
        config = _pytest_config_in(candidate)
        if config is not None:
            root = candidate
            break
    if root is None:
        below = [d for d in sorted(start.iterdir()) if d.is_dir() and _pytest_config_in(d)]
        if len(below) == 1:
            root, config = below[0], _pytest_config_in(below[0])
        elif len(below) > 1:
            names = ", ".join(d.name for d in below)
            raise ProjectError(
                f"{start} has no pytest configuration but several subdirectories do ({names}); "
                "give the one to test, e.g. async-test run backend/"
            )
        else:
            root = start  # pytest's own rule: no config file, the directory is the rootdir
    coverage_config = _coverage_config_in(root)
    if cov_sources:
        sources = cov_sources
    elif coverage_config is not None and _coverage_config_has_source(coverage_config):
        sources = []
    else:
        sources = _guess_sources(root)
    return Project(root=root, config_file=config, repo_root=_repo_root(root), coverage_config=coverage_config,
                   coverage_sources=sources)
