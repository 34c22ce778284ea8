"""The package layout is the architecture: which package may import which.

Each package's ``__init__`` docstring states its rule; this test holds the code to it, on every
import in the source (function-level and ``TYPE_CHECKING`` ones included), and checks the two
promises users notice: the PostgreSQL supervisor and the GitHub reporting start without loading
pytest, SQLAlchemy or coverage.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest

import async_test_harness

PACKAGE = Path(async_test_harness.__file__).parent
# leaves any package may use: standard library only
SHARED_STDLIB = {"masking", "messages", "versions", "phases", "sharding", "untrusted_files"}
THIRD_PARTY_TEST_FRAMEWORK = {"pytest", "_pytest", "pytest_asyncio", "xdist", "pytest_cov"}

# package (or top-level module) -> the harness packages/modules it may import
ALLOWED: Dict[str, Set[str]] = {
    "masking": set(),
    "messages": set(),
    "versions": set(),
    "phases": set(),
    "sharding": {"untrusted_files"},
    "untrusted_files": set(),
    "testmap": set(),  # issue 26: which tests ran which functions (coverage.py, imported where it is read)
    "affected": {"testmap"},  # issue 26: which tests a change can affect (pure)
    "carryforward": {"summary", "testmap"},  # issue 26: unselected files' coverage from the baseline (pure)
    "compat": set(),
    "settings": {"masking"},
    "summary": {"messages"},
    "baseline": {"summary", "untrusted_files"},  # issue 25: stored and compared runs; read by the report
    "github": {"summary", "baseline"} | SHARED_STDLIB,
    "server": {"settings"} | SHARED_STDLIB,
    "engine": {"server", "compat", "settings"} | SHARED_STDLIB,
    "plugin": {"server", "engine", "compat", "settings", "__init__", "affected"} | SHARED_STDLIB,
    "runner": {"server", "summary", "settings", "__init__", "baseline", "affected", "testmap",
               "carryforward"} | SHARED_STDLIB,
    "cli": {"server", "runner", "github", "settings", "__init__", "baseline"} | SHARED_STDLIB,
    "__init__": set(),
}
# packages that must not import a test framework or any third-party library at all
NO_TEST_FRAMEWORK = {"server", "engine", "runner", "summary", "baseline", "github", "masking", "messages", "settings",
                     "versions", "phases", "sharding", "untrusted_files"}
STDLIB_ONLY = {"summary", "baseline", "github", "masking", "messages", "versions", "phases", "sharding",
               "untrusted_files"}


def modules() -> Iterator[Tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield ".".join(path.relative_to(PACKAGE).with_suffix("").parts), path


def owner(dotted: str) -> str:
    """The package a module belongs to: its first component (``plugin.hooks`` -> ``plugin``)."""
    return dotted.split(".")[0]


def imports(dotted: str, path: Path) -> Iterator[Tuple[str, int]]:
    """Every imported module, absolute, with its line: ``async_test_harness.x`` or a library name."""
    is_package = path.name == "__init__.py"
    here = ["async_test_harness", *dotted.split(".")]
    if not is_package:
        here = here[:-1]
    elif dotted == "__init__":
        here = ["async_test_harness"]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.level and not node.module:
                for alias in node.names:  # from . import x: x is a module, or a name in __init__
                    folder = PACKAGE.joinpath(*target.split(".")[1:])
                    is_module = (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()
                    yield (f"{target}.{alias.name}" if is_module else f"{target}.__init__"), node.lineno
            else:
                yield target, node.lineno


def internal_owner(target: str) -> str:
    parts = target.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_belongs_to_a_known_package() -> None:
    unknown = sorted({owner(d) for d, _ in modules()} - set(ALLOWED))
    assert not unknown, f"new top-level modules/packages {unknown}: add them to ALLOWED with a rule"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_rule_allows(package: str) -> None:
    stdlib = getattr(sys, "stdlib_module_names", None)
    broken = []
    for dotted, path in modules():
        if owner(dotted) != package and not (package == "__init__" and dotted == "__init__"):
            continue
        for target, line in imports(dotted, path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            top = target.split(".")[0]
            if top == "async_test_harness":
                other = internal_owner(target)
                if other != package and other not in ALLOWED[package]:
                    broken.append(where)
            elif top == "__future__":
                continue
            elif package in NO_TEST_FRAMEWORK and top in THIRD_PARTY_TEST_FRAMEWORK:
                broken.append(where + " (a test framework)")
            elif package in STDLIB_ONLY and stdlib is not None and top not in stdlib:
                broken.append(where + " (not the standard library)")
    assert not broken, f"{package}: imports its rule does not allow:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("entry", "forbidden"),
    [
        ("async_test_harness.server.postgres", {"pytest", "sqlalchemy", "coverage"}),
        ("async_test_harness.server.provision", {"pytest", "coverage"}),
        ("async_test_harness.github.report", {"pytest", "sqlalchemy", "asyncpg", "coverage"}),
        ("async_test_harness.runner.container", {"pytest", "sqlalchemy", "asyncpg", "coverage"}),
        ("async_test_harness.cli", {"pytest", "sqlalchemy", "asyncpg", "coverage"}),
    ],
)
def test_processes_start_without_heavy_libraries(entry: str, forbidden: Set[str]) -> None:
    """The supervisor, the reporting step, the container entrypoint and the CLI load only what they use."""
    code = f"import sys, {entry}; print(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert not loaded & forbidden, f"importing {entry} loads {sorted(loaded & forbidden)}"


def test_entry_points_resolve() -> None:
    """The pytest11 entry point and the ``python -m`` modules the action and supervisor run exist."""
    from importlib.metadata import entry_points

    plugin = [ep for ep in entry_points(group="pytest11") if ep.name == "async_test"]
    assert plugin and hasattr(plugin[0].load(), "pytest_load_initial_conftests")
    for module in ("server.postgres", "runner.container", "github.action", "github.report", "cli"):
        source = (PACKAGE / (module.replace(".", "/") + ".py")).read_text()
        assert 'if __name__ == "__main__":' in source, f"python -m async_test_harness.{module} does nothing"
