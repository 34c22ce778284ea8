"""Finding a project's pytest root, its repository root and what coverage should measure.

The rules follow pytest's and coverage.py's own, because the runner starts pytest in the root it
finds here and reports coverage with the configuration it finds here: a different answer means
the header, the coverage source or the threshold disagree with what the passes really did.
"""

from __future__ import annotations

import configparser
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# pytest's own search order (pytest 9: _pytest/config/findpaths.py CONFIG_LOADERS_BY_NAME).
PYTEST_CONFIGS = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini",
                  "setup.cfg")
# coverage.py's own search order when no --cov-config is given (coverage/config.py config_files_to_try):
# the first file that has coverage settings is the only one read.
COVERAGE_CONFIGS = (".coveragerc", ".coveragerc.toml", "setup.cfg", "tox.ini", "pyproject.toml")
ADDOPTS_COV = "--cov in"  # how coverage_sources_origin starts when the sources are the project's own --cov
NOT_PACKAGES = {"tests", "test", "testing", "docs", "examples", "build", "dist", "venv", ".venv"}


@dataclass(frozen=True)
class Threshold:
    """A coverage minimum and where it was written, so a failure message can name the place."""

    percent: float
    origin: str  # e.g. "fail_under in pyproject.toml [tool.coverage.report]"


class ProjectError(ValueError):
    """The project directory cannot be used; the message says why and what to do."""


@dataclass
class Project:
    root: Path  # pytest's rootdir: where the config file is
    config_file: Optional[Path]
    repo_root: Path  # the git work tree (or root) that paths in reports are relative to
    coverage_config: Optional[Path]
    coverage_sources: List[str] = field(default_factory=list)  # empty: the coverage config decides
    # Where coverage_sources came from, for the run's header: "--cov-source", "--cov in pytest addopts (...)",
    # "guessed" (src/ or the top-level packages), or "" when the coverage config decides.
    coverage_sources_origin: str = ""
    addopts: List[str] = field(default_factory=list)  # the config file's addopts, split as pytest splits them
    # fail_under from the project's coverage config or --cov-fail-under in its addopts (addopts win, as in
    # pytest-cov); the runner applies it to the combined figure, never to one pass.
    fail_under: Optional[Threshold] = None

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

    def source_arguments(self) -> List[str]:
        """coverage_sources as coverage.py's ``source`` takes them, whatever the working directory.

        A directory becomes absolute; anything else stays as written, because coverage.py reads an
        entry that is not a directory as an importable package name (``--cov=myservice`` in a src
        layout), and an absolute path to nothing would match no code at all.
        """
        return [str(self.root / s) if (self.root / s).is_dir() else s for s in self.coverage_sources]

    @property
    def sources_from_addopts(self) -> bool:
        """The sources are the project's own ``--cov=SRC``, which pytest-cov applies in every pass."""
        return self.coverage_sources_origin.startswith(ADDOPTS_COV)

    @property
    def path_in_repo(self) -> str:
        rel = self.repo_relative(str(self.root))
        return "" if rel == "." else rel


def _pytest_table(path: Path) -> Optional[Dict[str, Any]]:
    """The pytest configuration in ``path`` (possibly empty), or None when pytest would not use the file.

    Mirrors pytest 9's loaders: pytest.ini and pytest.toml count even without their section;
    pyproject.toml counts with ``[tool.pytest.ini_options]`` (even empty) or with keys directly in
    ``[tool.pytest]`` (pytest 9's native TOML mode; an empty ``[tool.pytest]`` does not count).
    When both tables exist pytest 9 refuses the file with its own message, which the passes show;
    the file is still the config here, so that message comes from the right root.
    """
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            if path.name != "pyproject.toml":  # pytest.toml, .pytest.toml: a [pytest] table
                return dict(data.get("pytest", {}))
            tool_pytest = data.get("tool", {}).get("pytest", {})
            native = {k: v for k, v in tool_pytest.items() if k != "ini_options"}
            ini_options = tool_pytest.get("ini_options")
            if native:
                return native
            return dict(ini_options) if isinstance(ini_options, dict) else None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
        if parser.has_section(section):
            return dict(parser.items(section))
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    except (OSError, ValueError, configparser.Error, tomllib.TOMLDecodeError):
        return {} if path.name in ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml") else None


def _has_pytest_section(path: Path) -> bool:
    return _pytest_table(path) is not None


def _addopts(config: Optional[Path]) -> List[str]:
    """The config file's addopts as pytest splits them: a string is shell-split, a list taken as is."""
    if config is None:
        return []
    raw = (_pytest_table(config) or {}).get("addopts")
    if isinstance(raw, list):
        return [str(item) for item in raw]
    if isinstance(raw, str):
        try:
            return shlex.split(raw)
        except ValueError:  # unbalanced quotes: pytest reports it in the pass
            return []
    return []


def _section_label(config: Path) -> str:
    """How a pytest config file's section is spelled, for messages that point at it."""
    if config.name == "pyproject.toml":
        try:
            tool_pytest = tomllib.loads(config.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {})
        except (OSError, tomllib.TOMLDecodeError):
            tool_pytest = {}
        native = any(k != "ini_options" for k in tool_pytest)
        return f"{config.name} [tool.pytest{'' if native else '.ini_options'}]"
    return f"{config.name} [{'tool:pytest' if config.name == 'setup.cfg' else 'pytest'}]"


def option_values(args: List[str], option: str) -> List[Optional[str]]:
    """Every value given to a pytest ``option`` in ``args``, in order (None for the bare flag).

    Understands ``--opt=value`` and ``--opt value``; pytest-cov's ``--cov`` takes its value only
    when the next word is not an option, which is how argparse reads its ``nargs='?'``. Parsing
    stops at ``--``, after which every word is a path.
    """
    values: List[Optional[str]] = []
    for index, word in enumerate(args):
        if word == "--":
            break
        if word == option:
            following = args[index + 1] if index + 1 < len(args) else None
            values.append(following if following is not None and not following.startswith("-") else None)
        elif word.startswith(option + "="):
            values.append(word[len(option) + 1:])
    return values


def percent_from(text: object) -> Optional[float]:
    """A threshold value as coverage.py and pytest-cov accept it (0 to 100), or None if it is not one."""
    if isinstance(text, bool):
        return None
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= 100 else None


def addopts_fail_under(args: List[str], where: str) -> Optional[Threshold]:
    """The last ``--cov-fail-under`` in ``args`` (the one pytest-cov would use), labelled with ``where``."""
    for raw in reversed(option_values(args, "--cov-fail-under")):
        value = percent_from(raw)
        if value is not None:
            return Threshold(value, f"--cov-fail-under={raw} in {where}")
    return None


def _coverage_fail_under(path: Path) -> Optional[Threshold]:
    """``[report] fail_under`` of the coverage config coverage.py reads, with the section as written."""
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            candidates = [("tool.coverage.report", data.get("tool", {}).get("coverage", {}).get("report", {}))]
            if path.name != "pyproject.toml":  # .coveragerc.toml may also use a plain [report]
                candidates.append(("report", data.get("report", {})))
            for section, table in candidates:
                if isinstance(table, dict) and "fail_under" in table:
                    value = percent_from(table["fail_under"])
                    if value is not None:
                        return Threshold(value, f"fail_under in {path.name} [{section}]")
            return None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        section = "report" if path.name == ".coveragerc" else "coverage:report"
        if parser.has_option(section, "fail_under"):
            value = percent_from(parser.get(section, "fail_under"))
            if value is not None:
                return Threshold(value, f"fail_under in {path.name} [{section}]")
    except (OSError, configparser.Error, tomllib.TOMLDecodeError):
        pass
    return None


def _pytest_config_in(directory: Path) -> Optional[Path]:
    for name in PYTEST_CONFIGS:
        candidate = directory / name
        if candidate.is_file() and _has_pytest_section(candidate):
            return candidate
    return None


def _coverage_config_in(directory: Path) -> Optional[Path]:
    """The file coverage.py reads in ``directory``: the first of its candidates with coverage settings.

    The same order as coverage.py, so the combined report uses the configuration the passes used
    (a pyproject.toml ``[tool.coverage]`` loses to a setup.cfg ``[coverage:*]``, as it does there).
    """
    for name in COVERAGE_CONFIGS:
        path = directory / name
        if not path.is_file():
            continue
        if name.startswith(".coveragerc"):
            return path  # coverage.py's own files count even when empty
        if name == "pyproject.toml":
            try:
                if "coverage" in tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}):
                    return path
            except (OSError, tomllib.TOMLDecodeError):
                pass
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error:
            continue
        if any(s.startswith("coverage:") for s in parser.sections()):
            return path
    return None


def _coverage_config_has_source(path: Path) -> bool:
    if path.suffix == ".toml":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        run = data.get("tool", {}).get("coverage", {}).get("run", {})
        if path.name != "pyproject.toml":
            run = run or data.get("run", {})
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
    addopts = _addopts(config)
    where = f"pytest addopts ({_section_label(config)})" if config is not None else "pytest addopts"
    # --cov=SRC in addopts: pytest-cov measures SRC in every pass whatever the runner adds, so that is
    # what the project measures; a bare --cov means the coverage config (or everything) decides.
    addopts_sources = [v for v in option_values(addopts, "--cov") if v is not None]
    origin = ""
    if cov_sources:
        sources, origin = cov_sources, "--cov-source"
    elif addopts_sources and None not in option_values(addopts, "--cov"):
        sources, origin = list(dict.fromkeys(addopts_sources)), f"{ADDOPTS_COV} {where}"
    elif coverage_config is not None and _coverage_config_has_source(coverage_config):
        sources = []
    else:
        sources, origin = _guess_sources(root), "guessed"
    fail_under = addopts_fail_under(addopts, where)
    if fail_under is None and coverage_config is not None:
        fail_under = _coverage_fail_under(coverage_config)
    return Project(root=root, config_file=config, repo_root=_repo_root(root), coverage_config=coverage_config,
                   coverage_sources=sources, coverage_sources_origin=origin, addopts=addopts, fail_under=fail_under)
