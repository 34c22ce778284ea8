"""The run's server, template and per-process databases, from settings to ready.

A run (one pytest process, or an xdist controller with its workers) has one
server and one template; each process that runs tests gets its own database
cloned from the template.  ``RunDatabase`` is what the controller makes and
hands to workers as JSON.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Optional

from ..masking import mask_text
from ..settings import Settings
from .address import DatabaseAddress, parse_url
from .databases import clone_database, drop_database, drop_databases_with_prefix, run_sync, server_version
from .postgres import PostgresError, SupervisedServer
from .template import build_template


@dataclass
class RunDatabase:
    """Serialisable description of the run's server and template."""

    admin_url: str
    prefix: str
    template: str
    version: str
    source: str  # "url", "local: /path" or "embedded: /path"
    schema: str
    owns_server: bool
    ready_seconds: float = 0.0
    socket_dir: str = ""
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def admin(self) -> DatabaseAddress:
        return parse_url(self.admin_url)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunDatabase:
        return cls(**json.loads(text))

    def database_for(self, worker: str) -> str:
        return f"{self.prefix}_{worker}"


def start_run(settings: Settings, rootdir: Path) -> tuple[RunDatabase, Optional[SupervisedServer]]:
    """Start (or connect to) the server and build the template. Raises PostgresError/SchemaError."""
    import time

    began = time.monotonic()
    server: Optional[SupervisedServer] = None
    if settings.database_url:
        try:
            admin = parse_url(settings.database_url)
        except ValueError as exc:
            raise PostgresError(f"database_url: {exc}") from None
        try:
            version = run_sync(lambda: server_version(admin))
        except Exception as exc:
            raise PostgresError(
                mask_text(
                    f"Could not connect to database_url {admin.masked}: {type(exc).__name__}: {exc}. "
                    "Check that the server is running and the URL's user may create databases.",
                    [admin.password],
                )
            ) from None
        # A shared server may host several runs at once: make our names unique.
        prefix = f"async_test_{secrets.token_hex(4)}"
        source, ready, socket_dir, owns = "url", 0.0, "", False
    else:
        server = server_for(settings)
        info = server.start()
        admin = DatabaseAddress(info.host, info.port, info.user, info.password, "postgres")
        version, prefix = info.version, "test"
        source = f"{info.source}: {info.bindir}"
        ready, socket_dir, owns = info.ready_seconds, info.socket_dir, True
    started = time.monotonic()
    template = f"{prefix}_template"
    try:
        schema = build_template(
            admin, template, rootdir,
            metadata=settings.metadata, alembic_ini=settings.alembic_ini, schema_sql=settings.schema_sql,
            extensions=settings.extensions, env_templates=settings.env_templates(),
        )
    except Exception:
        if server is not None:
            server.stop()
        elif settings.database_url:
            run_sync(lambda: drop_databases_with_prefix(admin, prefix))
        raise
    run = RunDatabase(
        admin_url=admin.sync_url, prefix=prefix, template=template, version=version, source=source,
        schema=schema, owns_server=owns, ready_seconds=ready, socket_dir=socket_dir,
        timings={"server": round(started - began, 4), "template": round(time.monotonic() - started, 4)},
    )
    return run, server


def server_for(settings: Settings) -> SupervisedServer:
    """The ephemeral server the settings describe (not started): the plugin's and the runner's."""
    return SupervisedServer(settings.pg_source, settings.pg_bin_dir, settings.pg_port, settings.pg_cluster,
                            settings.pg_workdir, settings.pg_auth)


def clone_for(run: RunDatabase, worker: str) -> DatabaseAddress:
    name = run.database_for(worker)
    run_sync(lambda: clone_database(run.admin, run.template, name))
    return run.admin.with_database(name)


def finish_run(run: RunDatabase, server: Optional[SupervisedServer]) -> None:
    """Stop our server, or drop what we created on someone else's."""
    if server is not None:
        server.stop()
    elif not run.owns_server:
        try:
            run_sync(lambda: drop_databases_with_prefix(run.admin, run.prefix))
        except Exception:
            pass  # the server went away; nothing left to clean


def drop(run: RunDatabase, name: str) -> None:
    run_sync(lambda: drop_database(run.admin, name))


def blocked_address(settings: Settings) -> DatabaseAddress:
    """Where the unit selection's exported variables point: a port nothing listens on, all access blocked."""
    from .postgres import free_port

    port = settings.pg_port or free_port()
    return DatabaseAddress("127.0.0.1", port, "postgres", "blocked-in-unit-tests", "test_unit")


