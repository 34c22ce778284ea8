"""What to install for a project, from which source, as uv commands (the container's install step).

Sources, in order of preference (the first that the project has wins):

1. ``uv.lock``: ``uv export --frozen`` (all dependency groups unless ``groups`` narrows them, the
   ``extras`` asked for, with hashes) into a requirements file in a temporary folder, installed in
   one ``uv pip install`` together with the harness: every locked package is an ``==`` pin.
2. ``poetry.lock`` and 3. ``pdm.lock`` (no poetry or pdm in the image): the project's declared
   dependencies and groups, resolved with every locked version as a constraint (``-c``), so the
   resolution lands on the locked versions.
4. Requirements files with ``--hash=`` entries: installed as given with ``--require-hashes``; then
   the harness (and whatever of its dependencies the files lack, without hashes: they are not in
   them) with the hashed pins as constraints, so none of them changes.
5. Plain requirements files and the ``[project]`` dependencies of ``pyproject.toml``: one
   resolution with the harness (the user's pins are part of it, so they win over its ranges).

A project that is a package (a build backend) is then installed itself, editable and without its
dependencies (``own_package.py``), as ``uv sync`` and ``poetry install`` do.

``ASYNC_TEST_INSTALL`` replaces all of it (the container handles it); an explicit
``ASYNC_TEST_REQUIREMENTS`` is taken over a lock file. Before anything is installed, locked pins
are checked against the harness's own ranges (pytest >= 7.0, SQLAlchemy >= 2.0, ...): a conflict
is one paragraph naming both sides, and the container exits 6. The user's tree is only read;
every generated file goes into ``workdir``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..settings import ContainerSettings
from ..versions import SUPPORTED_PYTHONS
from . import own_package

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXIT_DEPENDENCIES = 6
HARNESS = "async-test-harness"
REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt", "requirements-test.txt", "test-requirements.txt",
                     "dev-requirements.txt")
LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock")


def requires_python(root: Path) -> Optional[str]:
    """``[project] requires-python`` of the project's pyproject.toml, if it states one."""
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted = (data.get("project") or {}).get("requires-python")
    return wanted.strip() if isinstance(wanted, str) and wanted.strip() else None


def allowed_pythons(spec: SpecifierSet) -> List[str]:
    """The supported X.Y (oldest first) a requires-python allows, each taken as any of its releases."""
    return [c for c in SUPPORTED_PYTHONS if any(spec.contains(f"{c}.{z}") for z in (0, 99))]


def python_mismatch(root: Path, running: Optional[str] = None) -> Optional[str]:
    """Why this interpreter cannot run the project, from its ``requires-python``; None if it can.

    A project that declares ``>=3.13`` was installed and tested on the image's Python without a
    word, and failed (or, worse, passed) on a Python it does not support.
    """
    import platform

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    pyproject = root / "pyproject.toml"
    wanted = requires_python(root)
    if wanted is None:
        return None
    try:
        spec = SpecifierSet(wanted)
    except InvalidSpecifier:
        return None  # pip and uv report it themselves, with their own words
    version = running or platform.python_version()
    if spec.contains(version, prereleases=True):
        return None
    fits = allowed_pythons(spec)
    if fits:
        newest = fits[-1]
        base = f"python:{newest}-slim-bookworm" if newest != "3.13" else "python:3.13-slim-trixie"
        how = (f"run an image built for Python {newest}: docker build --build-arg BASE_IMAGE={base} (without a "
               "registry: " + ("SUITE=trixie scripts/build-image.sh" if newest == "3.13" else
                               "a base image with that Python") + "); the action chooses it from requires-python "
               "by itself")
    else:
        how = "no image is built for the Pythons it allows; run the tests on the host (pip install async-test-harness)"
    return (f"the project requires Python {wanted} (requires-python in {pyproject}), and this image runs "
            f"Python {version}: {how}, or widen requires-python if the project does support {version}. "
            "Exit code 2.")


def python_version_note(root: Path, running: Optional[str] = None) -> Optional[str]:
    """A warning when ``.python-version`` pins another X.Y than this interpreter's; None otherwise.

    Not a refusal: ``.python-version`` is the developers' interpreter, not a support range (that is
    ``requires-python``), but a difference is worth a line before the results are trusted.
    """
    import platform

    try:
        lines = (root / ".python-version").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    pinned = next((line.strip() for line in lines if line.strip() and not line.strip().startswith("#")), "")
    match = re.fullmatch(r"(?:cpython-|python)?(\d+\.\d+)(?:\.\d+)?\S*", pinned)
    version = running or platform.python_version()
    if not match or version.startswith(match.group(1) + "."):
        return None
    return (f"note: .python-version says {match.group(1)}, and this image runs Python {version}; the tests run on "
            f"{version} (an image for {match.group(1)}: docs/container.md, Variants; the action picks it by itself)")


class DependencyError(Exception):
    """The install cannot go on: the message is one paragraph for the user (the container exits 6)."""


@dataclass
class Plan:
    """How a project's dependencies get installed: ``prepare`` commands, a pin check, ``install`` commands."""

    source: str  # the line the container prints and the run header shows, e.g. "uv.lock (frozen; groups: all)"
    kind: str  # uv.lock, poetry.lock, pdm.lock, hashed-requirements, requirements, pyproject, none
    prepare: List[List[str]] = field(default_factory=list)  # e.g. uv export, before the pins can be read
    pins_from: List[Path] = field(default_factory=list)  # requirement files whose == pins the harness must fit
    pins_origin: str = ""  # how a pin's origin is named in a conflict, e.g. "uv.lock"
    install: List[List[str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)  # what is deliberately not installed, and why


# ---------------------------------------------------------------------------------------- detection


def requirement_files(root: Path, settings: ContainerSettings) -> List[Path]:
    names = settings.requirements or [n for n in REQUIREMENT_FILES if (root / n).is_file()]
    return [root / n for n in names]


def is_hashed(path: Path) -> bool:
    try:
        return "--hash=" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def has_project_table(pyproject: Path) -> bool:
    return pyproject.is_file() and "[project]" in pyproject.read_text(encoding="utf-8", errors="replace")


def detect(root: Path, settings: ContainerSettings) -> str:
    """The source a project's dependencies come from (``Plan.kind``), in order of preference."""
    if not settings.requirements:  # an explicit ASYNC_TEST_REQUIREMENTS is the user's choice over a lock
        if (root / "uv.lock").is_file() and (root / "pyproject.toml").is_file():
            return "uv.lock"
        for lock in ("poetry.lock", "pdm.lock"):
            if (root / lock).is_file() and (root / "pyproject.toml").is_file():
                return lock
    files = requirement_files(root, settings)
    if any(is_hashed(f) for f in files):
        return "hashed-requirements"
    if files:
        return "requirements"
    if has_project_table(root / "pyproject.toml"):
        return "pyproject"
    return "none"


# ------------------------------------------------------------------------------------ the lock readers


def _load_toml(path: Path) -> Dict[str, Any]:
    try:
        data: Dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DependencyError(f"{path.name} could not be read ({exc}); fix it, or set ASYNC_TEST_INSTALL to "
                              f"your own install command. Exit code {EXIT_DEPENDENCIES}.") from None


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class LockedPackage:
    name: str
    version: str
    marker: str = ""
    source: Optional[Dict[str, Any]] = None  # poetry's [package.source] (git, url, directory)


def read_lock(path: Path) -> List[LockedPackage]:
    """The ``[[package]]`` entries of a poetry.lock or pdm.lock: name, version, markers if present."""
    packages = []
    for entry in _load_toml(path).get("package", []):
        if not isinstance(entry, dict) or "name" not in entry or "version" not in entry:
            continue
        marker = entry.get("marker") or entry.get("markers") or ""
        if isinstance(marker, dict):  # poetry 2 may key markers by group: keep them only when all agree
            values = set(marker.values())
            marker = values.pop() if len(values) == 1 else ""
        source = entry.get("source") if isinstance(entry.get("source"), dict) else None
        packages.append(LockedPackage(str(entry["name"]), str(entry["version"]), str(marker), source))
    return packages


def _poetry_requirement(name: str, spec: Any, locked: Dict[str, LockedPackage]) -> Optional[str]:
    """A requirement for a declared poetry dependency: its name and extras (the lock gives the version).

    None for a local path dependency (building it would write into the user's tree).
    """
    extras = ""
    marker = ""
    if isinstance(spec, list):  # multiple constraints: the lock holds the version that applies
        spec = spec[0] if spec and all(isinstance(s, dict) for s in spec) else {}
    if isinstance(spec, dict):
        if "path" in spec:
            return None
        if spec.get("extras"):
            extras = "[" + ",".join(spec["extras"]) + "]"
        if spec.get("markers"):
            marker = f" ; {spec['markers']}"
    package = locked.get(normalize(name))
    if package is not None and package.source and package.source.get("type") == "git":
        url, ref = package.source.get("url"), package.source.get("resolved_reference") or package.source.get(
            "reference")
        return f"{name}{extras} @ git+{url}@{ref}{marker}"
    if package is not None and package.source and package.source.get("type") == "url":
        return f"{name}{extras} @ {package.source.get('url')}{marker}"
    if package is not None and package.source and package.source.get("type") == "directory":
        return None
    return f"{name}{extras}{marker}"


def declared_requirements(pyproject: Mapping[str, Any], kind: str, groups: Sequence[str], extras: Sequence[str],
                          locked: Dict[str, LockedPackage]) -> Tuple[List[str], List[str], List[str]]:
    """The project's declared dependencies for a poetry.lock or pdm.lock project.

    Returns the requirements, the groups taken, and what was left out (local path dependencies).
    ``groups`` empty means all of them (test tools usually live in a dev or test group).
    """
    project = pyproject.get("project", {}) if isinstance(pyproject.get("project"), dict) else {}
    tool = pyproject.get("tool", {}).get("poetry" if kind == "poetry.lock" else "pdm", {})
    own = normalize(str(project.get("name") or tool.get("name") or ""))
    requirements: List[str] = list(project.get("dependencies", []))
    for extra in extras:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    available: Dict[str, List[str]] = {}
    for name, items in pyproject.get("dependency-groups", {}).items():  # PEP 735
        available.setdefault(name, []).extend(i for i in items if isinstance(i, str))
    skipped: List[str] = []
    if kind == "poetry.lock":
        wanted_extras = {normalize(p) for e in extras for p in tool.get("extras", {}).get(e, [])}
        poetry_groups: Dict[str, Dict[str, Any]] = {"main": tool.get("dependencies", {})}
        if tool.get("dev-dependencies"):
            poetry_groups["dev"] = dict(tool["dev-dependencies"])
        for name, group in tool.get("group", {}).items():
            poetry_groups.setdefault(name, {}).update(group.get("dependencies", {}))
        for name, deps in poetry_groups.items():
            if name != "main":
                available.setdefault(name, [])
            for dep, spec in deps.items():
                if dep.lower() == "python" or normalize(dep) == own:
                    continue
                if name == "main" and isinstance(spec, dict) and spec.get("optional") and normalize(
                        dep) not in wanted_extras:
                    continue
                requirement = _poetry_requirement(dep, spec, locked)
                if requirement is None:
                    skipped.append(f"{dep} (a local path dependency)")
                elif name == "main":
                    requirements.append(requirement)
                else:
                    available[name].append(requirement)
    else:
        for name, items in tool.get("dev-dependencies", {}).items():
            available.setdefault(name, []).extend(i for i in items if isinstance(i, str))
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise DependencyError(
            f"the dependency group(s) {', '.join(unknown)} asked for by ASYNC_TEST_GROUPS are not in pyproject.toml "
            f"(it has: {', '.join(sorted(available)) or 'none'}). Exit code {EXIT_DEPENDENCIES}.")
    taken = list(groups) or sorted(available)
    for name in taken:
        requirements += available[name]
    # PEP 735 include-group tables and editable/path entries of the project itself are not requirements
    kept = []
    for req in requirements:
        if req.startswith("-e") or req.startswith("file:") or re.match(r"^\s*[.]{0,2}/", req):
            skipped.append(f"{req} (a local path dependency)")
        elif normalize(re.split(r"[\s\[<>=!~;@(]", req.strip(), maxsplit=1)[0]) != own:
            kept.append(req)
    return kept, taken, skipped


def constraint_lines(packages: Sequence[LockedPackage]) -> List[str]:
    """``name==version`` for every locked package, with its markers when the lock has them.

    A package locked at several versions without markers to tell them apart is left to the resolver.
    """
    by_name: Dict[str, List[LockedPackage]] = {}
    for p in packages:
        by_name.setdefault(normalize(p.name), []).append(p)
    lines = []
    for name, entries in sorted(by_name.items()):
        if len({e.version for e in entries}) > 1 and not all(e.marker for e in entries):
            continue
        for e in entries if len({e.version for e in entries}) > 1 else entries[:1]:
            if e.source and e.source.get("type") in ("git", "url", "directory", "file"):
                continue  # not an index version: the requirement itself names it
            lines.append(f"{name}=={e.version}" + (f" ; {e.marker}" if e.marker else ""))
    return lines


# ------------------------------------------------------------------------------------------ the plan


def _quote_groups(groups: Sequence[str]) -> str:
    return ", ".join(groups) if groups else "none"


ALL = "all"  # ASYNC_TEST_EXTRAS=all, ASYNC_TEST_GROUPS=all: every one the project declares


def wants_all(values: Sequence[str]) -> bool:
    return [v.lower() for v in values] == [ALL]


def all_extras(pyproject: Path) -> List[str]:
    """Every extra the project declares: ``[project.optional-dependencies]`` and poetry's ``[tool.poetry.extras]``."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    poetry = (data.get("tool") or {}).get("poetry") or {}
    names = list((project or {}).get("optional-dependencies") or {})
    return names + [n for n in (poetry.get("extras") or {}) if n not in names]


def pep735_groups(pyproject: Path) -> List[str]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(data.get("dependency-groups") or {})


def plan(root: Path, python: str, harness: str, settings: ContainerSettings, workdir: Path) -> Plan:
    """What to run to install the project's dependencies and ``harness`` into ``python``'s environment.

    ``harness`` is the harness requirement (the image's wheel, or a path in tests). Generated files go
    into ``workdir``, never into ``root``.
    """
    kind = detect(root, settings)
    pip = ["uv", "pip", "install", "--python", python]
    pyproject = root / "pyproject.toml"
    every_extra, every_group = wants_all(settings.extras), wants_all(settings.groups)
    extras = all_extras(pyproject) if every_extra else list(settings.extras)
    if kind == "uv.lock":
        out = workdir / "uv-lock-requirements.txt"
        export = ["uv", "export", "--frozen", "--no-emit-project", "--project", str(root), "--quiet",
                  "--output-file", str(out)]
        if settings.groups and not every_group:
            export += ["--no-default-groups"]
            for group in settings.groups:
                export += ["--group", group]
        else:
            export += ["--all-groups"]
        if every_extra:
            export += ["--all-extras"]
        for extra in [] if every_extra else settings.extras:
            export += ["--extra", extra]
        what = f"groups: {', '.join(settings.groups)}" if settings.groups and not every_group else "all groups"
        if every_extra:
            what += "; all extras"
        elif settings.extras:
            what += f"; extras: {', '.join(settings.extras)}"
        return Plan(source=f"uv.lock (frozen; {what})", kind=kind, prepare=[export], pins_from=[out],
                    pins_origin="uv.lock", install=[[*pip, "-r", str(out), harness]])
    if kind in ("poetry.lock", "pdm.lock"):
        packages = read_lock(root / kind)
        locked = {normalize(p.name): p for p in packages}
        groups = [] if every_group else settings.groups  # none named: all of them
        requirements, taken, skipped = declared_requirements(_load_toml(pyproject), kind, groups, extras, locked)
        constraints = workdir / f"{kind.replace('.', '-')}-constraints.txt"
        constraints.write_text("\n".join(constraint_lines(packages)) + "\n", encoding="utf-8")
        wanted = workdir / f"{kind.replace('.', '-')}-requirements.txt"
        wanted.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        what = f"groups: {_quote_groups(taken)}"
        if extras:
            what += f"; extras: {', '.join(extras)}"
        notes = [f"not installed: {', '.join(skipped)}; set ASYNC_TEST_INSTALL to install it"] if skipped else []
        return Plan(source=f"{kind} (locked versions as constraints; {what})", kind=kind, pins_from=[constraints],
                    pins_origin=kind, install=[[*pip, "-r", str(wanted), "-c", str(constraints), harness]],
                    notes=notes)
    files = requirement_files(root, settings)
    if kind == "hashed-requirements":
        hashed = [f for f in files if is_hashed(f)]
        plain = [f for f in files if f not in hashed]
        first = [*pip, "--require-hashes"]
        for f in hashed:
            first += ["-r", str(f)]
        second = [*pip, harness]
        for f in hashed:
            second += ["-c", str(f)]  # the hashed pins hold: the harness only adds what they lack
        for f in plain:
            second += ["-r", str(f)]
        names = ", ".join(f.name for f in hashed)
        return Plan(source=f"{names} (hashes required; the harness added without changing a pinned version)",
                    kind=kind, pins_from=hashed, pins_origin=names, install=[first, second])
    cmd = [*pip, harness]
    for f in files:
        cmd += ["-r", str(f)]
    described = [f.name for f in files]
    if has_project_table(pyproject):
        cmd += ["-r", str(pyproject)]  # its dependencies only: nothing is built in the user's tree
        if every_extra:
            cmd += ["--all-extras"]
        for extra in [] if every_extra else settings.extras:
            cmd += ["--extra", extra]
        for group in pep735_groups(pyproject) if every_group else settings.groups:
            cmd += ["--group", f"{pyproject}:{group}"]
        described.append("pyproject.toml [project] dependencies")
    if kind == "none":
        return Plan(source="no dependency files (the harness only)", kind=kind, install=[cmd])
    return Plan(source=f"{', '.join(described)} (resolved with the harness; no lock file)", kind=kind,
                install=[cmd])


# ----------------------------------------------------------------------------- the harness's ranges


def harness_requirements() -> List[str]:
    """The harness's own requirements (its installed metadata): the ranges a lock must fit."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return list(requires(HARNESS) or [])
    except PackageNotFoundError:  # pragma: no cover - the harness runs this, so it is installed
        return []


def read_pins(path: Path) -> List[Tuple[str, str, str]]:
    """``(name, version, marker)`` for each ``name==version`` line of a requirements file."""
    pins = []
    text = path.read_text(encoding="utf-8", errors="replace").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        line = re.sub(r"\s--hash=\S+", "", line)
        requirement, _, marker = line.partition(";")
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s,;]+)\s*$",
                         requirement.strip())
        if match:
            pins.append((normalize(match.group(1)), match.group(2), marker.strip()))
    return pins


def conflicts(pins: Sequence[Tuple[str, str, str]], origin: str, harness: Sequence[str],
              environment: Optional[Dict[str, str]] = None) -> List[str]:
    """``sqlalchemy==1.4.52 (uv.lock) against sqlalchemy[asyncio]>=2.0 (async-test-harness)`` for each pin
    (whose markers apply here) outside one of the harness's ranges (whose markers apply here)."""
    from packaging.markers import InvalidMarker, Marker
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    def applies(marker: str) -> bool:
        if not marker:
            return True
        try:
            return Marker(marker).evaluate({"extra": "", **(environment or {})})
        except InvalidMarker:
            return True

    needs: Dict[str, List[Requirement]] = {}
    for text in harness:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or applies(str(req.marker)):
            needs.setdefault(normalize(req.name), []).append(req)
    found = []
    for name, version, marker in pins:
        if name not in needs or not applies(marker):
            continue
        for req in needs[name]:
            try:
                ok = req.specifier.contains(Version(version), prereleases=True)
            except InvalidVersion:
                continue
            if not ok:
                found.append(f"{name}=={version} ({origin}) against {str(req).split(';')[0].strip()} ({HARNESS})")
    return found


def conflict_message(found: Sequence[str], kind: str) -> str:
    fix = {"uv.lock": "uv lock --upgrade-package NAME", "poetry.lock": "poetry update NAME",
           "pdm.lock": "pdm update NAME"}.get(kind, "a newer pin in the file")
    return (f"the locked versions cannot be installed with the harness: {'; '.join(found)}. The harness needs "
            f"those ranges and does not change a locked version; update the lock ({fix}), or set "
            f"ASYNC_TEST_INSTALL to your own install command. Exit code {EXIT_DEPENDENCIES}.")


# ------------------------------------------------------------------------------------------ running it

# What uv and pip print when the package index cannot be reached or its certificate not verified:
# the requirements are fine, the network (or its TLS-inspecting proxy) is not.
TLS_ERRORS = ("invalid peer certificate", "unknownissuer", "certificate verify failed", "self-signed certificate",
              "self signed certificate", "unable to get local issuer certificate", "sslerror", "ssl:")
NETWORK_ERRORS = ("failed to fetch", "connection refused", "dns error", "failed to lookup address",
                  "name or service not known", "temporary failure in name resolution", "network is unreachable",
                  "connection reset", "timed out", "could not connect")

BUILD_TOOL_ERRORS = ("gcc: no such file", "linux-gnu-gcc'", "command 'gcc' failed", "unable to execute 'gcc'",
                     "-gcc' failed",
                     "cc: not found", "no such file or directory: 'cc'", "no such file or directory: 'gcc'",
                     "pg_config executable not found", "python.h: no such file", "error: command 'cc' failed",
                     "could not find a c compiler", "you need a c compiler", "failed to find a c compiler",
                     "c compiler cannot create executables", "libpq-fe.h: no such file")
FAILED_BUILD = (re.compile(r"Failed to build `([A-Za-z0-9._-]+)"),
                re.compile(r"Failed building wheel for ([A-Za-z0-9._-]+)"),
                re.compile(r"Building wheel for ([A-Za-z0-9._-]+) \(pyproject\.toml\) did not run successfully"))


def source_build_failure(code: int, output: str) -> Optional[str]:
    """The paragraph for a package that had to be built from source without a compiler; None if not that.

    ``x86_64-linux-gnu-gcc: No such file`` in the middle of uv's output sent users to their
    requirements; what they need is the package's name and the two ways out.
    """
    text = output.lower()
    if not any(marker in text for marker in BUILD_TOOL_ERRORS):
        return None
    names: List[str] = []
    for pattern in FAILED_BUILD:
        names += [n for n in pattern.findall(output) if n not in names]
    what = ", ".join(names) if names else "a dependency"
    binary = " (psycopg2-binary instead of psycopg2)" if any(normalize(n) == "psycopg2" for n in names) else ""
    return (f"installing the project's dependencies failed (exit {code}, see above): {what} has no wheel for this "
            "Python and platform, so it was built from source, and the image has no C compiler or headers for "
            f"that. Depend on a release that ships wheels{binary}, or use the image with build tools: the action's "
            "build-tools: true input, or docker build --build-arg BUILD_TOOLS=true (scripts/build-image.sh: "
            f"BUILD_TOOLS=true), which adds gcc and the Python and libpq headers. Exit code {EXIT_DEPENDENCIES}.")


def install_failure(code: int, output: str) -> str:
    """One paragraph on why the install failed and what to do: the fix for a certificate or a network
    differs from the fix for requirements, and telling the user to fix their requirements sent them
    the wrong way. Colour codes (FORCE_COLOR in GitHub Actions colours uv's output) are removed first:
    they split the words looked for."""
    output = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output)
    text = output.lower()
    built = source_build_failure(code, output)
    if built:
        return built
    if any(marker in text for marker in TLS_ERRORS):
        return (f"installing the project's dependencies failed (exit {code}, see above): the package index's TLS "
                "certificate could not be verified. Behind a TLS-inspecting proxy, give the container your CA "
                "bundle: docker run -v /path/ca.crt:/etc/ssl/certs/proxy-ca.crt:ro -e "
                "SSL_CERT_FILE=/etc/ssl/certs/proxy-ca.crt ..., or the action's ca-bundle input. Your requirements "
                f"are not the problem. Exit code {EXIT_DEPENDENCIES}.")
    if any(marker in text for marker in NETWORK_ERRORS):
        return (f"installing the project's dependencies failed (exit {code}, see above): the package index could "
                "not be reached from the container. Check its network (docker run --network, a proxy through "
                "HTTPS_PROXY, or UV_INDEX_URL for a mirror); your requirements are not the problem. "
                f"Exit code {EXIT_DEPENDENCIES}.")
    return (f"installing the project's dependencies failed (exit {code}, see above). Fix the requirements "
            "(versions that cannot be installed together with the harness's pytest >= 7.0, pytest-asyncio >= 0.23, "
            "SQLAlchemy >= 2.0 are reported here), or set ASYNC_TEST_INSTALL to your own install command. "
            f"Exit code {EXIT_DEPENDENCIES}.")


def run_shown(step: Sequence[str], cwd: Path, env: Optional[Mapping[str, str]] = None) -> Tuple[int, str]:
    """Run one install step with its output shown as it comes, and kept for install_failure.

    uv's own progress (``Resolved 31 packages in 0.4s``, ``Installed ...``, the versions) is the
    install's progress in the log: a cold install takes a minute that used to pass in silence,
    and a failure's full output is already on screen, not only its tail.
    """
    proc = subprocess.Popen(list(step), cwd=cwd, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    kept: List[str] = []
    with proc.stdout:
        for line in proc.stdout:
            kept.append(line)
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.wait(), "".join(kept)


def install(root: Path, python: str, harness: str, settings: ContainerSettings, workdir: Path,
            env: Optional[Mapping[str, str]] = None, say: Callable[[str], None] = print,
            harness_ranges: Optional[Sequence[str]] = None) -> Plan:
    """Install the project's dependencies and ``harness`` into ``python``'s (existing) environment.

    Raises :class:`DependencyError` with the paragraph to show (the container exits 6).
    """
    the_plan = plan(root, python, harness, settings, workdir)
    say(f"installing from {the_plan.source}")
    for note in the_plan.notes:
        say(note)

    def run(step: List[str]) -> None:
        say("$ " + " ".join(shlex.quote(part) for part in step))
        code, output = run_shown(step, root, env)
        if code != 0:
            raise DependencyError(install_failure(code, output))

    for step in the_plan.prepare:
        run(step)
    ranges = harness_requirements() if harness_ranges is None else list(harness_ranges)
    found: List[str] = []
    for path in the_plan.pins_from:
        found += conflicts(read_pins(path), the_plan.pins_origin, ranges)
    if found:
        raise DependencyError(conflict_message(found, the_plan.kind))
    for step in the_plan.install:
        run(step)
    if settings.install_project and own_package.is_package(root) and own_package.install(root, python, env, say):
        the_plan.source += "; the project itself, editable"
    return the_plan
