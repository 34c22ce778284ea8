"""What one pytest session gets provisioned: a server, a template, a database per process.

A pytest session (one process, or an xdist controller with its workers) has one server and one
template; each process that runs tests gets its own database cloned from the template.
``Provision`` is what the controller makes and hands to its workers as JSON.

The server is one of three: a URL the user gave (``database_url``: someone else's, so the
harness's names get a random prefix and are dropped afterwards), a server this process starts,
or the server ``async-test run`` started for its integration pass and describes in
``OWNED_SERVER_ENV``. The last two are the harness's own: no SSL, nothing to drop (the whole
cluster goes), and the same header line either way.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..masking import mask_text
from ..settings import Settings
from .address import DatabaseAddress, parse_url
from .databases import clone_database, drop_database, drop_databases_with_prefix, run_sync, server_version
from .postgres import PostgresError, ServerInfo, SupervisedServer
from .template import build_template

# The server `async-test run` started, described for the pass it runs (JSON of ServerInfo), or the
# file it will be described in once it is ready (so pytest starts while PostgreSQL does). Popped by
# the plugin when it reads them, so a pytest the tests start does not attach to the server as well.
OWNED_SERVER_ENV = "_ASYNC_TEST_SERVER"
OWNED_SERVER_FILE_ENV = "_ASYNC_TEST_SERVER_FILE"
SERVER_FILE_WAIT = 300.0  # seconds; the runner's own start-up limits are shorter


def describe_owned_server(info: ServerInfo) -> Dict[str, str]:
    """The environment that hands a started server to a pytest process (the runner's side)."""
    return {OWNED_SERVER_ENV: json.dumps(asdict(info))}


def describe_owned_server_later(path: Path) -> Dict[str, str]:
    """The environment that hands a server still starting: ``publish_owned_server`` writes ``path``."""
    return {OWNED_SERVER_FILE_ENV: str(path)}


def publish_owned_server(path: Path, info: Optional[ServerInfo], error: Optional[str]) -> None:
    """Write the server (or why it did not start) where the pass waits for it: whole or not at all,
    readable by its owner only (it holds the password)."""
    document = {"ok": asdict(info)} if info is not None else {"error": error or "PostgreSQL did not start"}
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(partial, path)


def take_owned_server() -> Optional[ServerInfo]:
    """The server handed by ``describe_owned_server`` (or ``..._later``: waited for), removed from the
    environment (the plugin's side). Raises PostgresError when the runner's server did not start."""
    text = os.environ.pop(OWNED_SERVER_ENV, None)
    later = os.environ.pop(OWNED_SERVER_FILE_ENV, None)
    if not text and later:
        text = _wait_for(Path(later))
    if not text:
        return None
    try:
        document = json.loads(text)
        if "error" in document:
            raise PostgresError(f"PostgreSQL did not start: {document['error']}")
        return ServerInfo(**document.get("ok", document))
    except (TypeError, ValueError, AttributeError) as exc:
        raise PostgresError(
            f"{OWNED_SERVER_ENV} does not describe a server ({exc}); only async-test run sets it, unset it"
        ) from None


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + SERVER_FILE_WAIT
    while True:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"async-test run did not hand over its PostgreSQL server within {SERVER_FILE_WAIT:.0f} s "
                    f"({path} never appeared)"
                ) from None
            time.sleep(0.005)


@dataclass
class Provision:
    """Serialisable description of the session's server and template."""

    admin_url: str
    prefix: str
    template: str
    version: str
    source: str  # "url", "local: /path" or "embedded: /path"
    schema: str
    owns_server: bool  # the harness started it (this process or async-test run): no SSL, dropped whole
    ready_seconds: float = 0.0
    socket_dir: str = ""
    timings: Dict[str, float] = field(default_factory=dict)

    @cached_property  # read for every event the plugin writes (its password is masked there)
    def admin(self) -> DatabaseAddress:
        return parse_url(self.admin_url)  # the URL carries the driver options (no SSL on our servers)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Provision:
        return cls(**json.loads(text))

    def database_for(self, worker: str) -> str:
        return f"{self.prefix}_{worker}"


def _foreign_server(url: str) -> Tuple[DatabaseAddress, str]:
    """The user's ``database_url``: its address and server version. Raises PostgresError."""
    try:
        admin = parse_url(url)
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
    return admin, version


def _own_address(info: ServerInfo) -> DatabaseAddress:
    # Our servers are configured without SSL: asking each connection to upgrade first (asyncpg's
    # default, sslmode=prefer) costs 1-1.5 ms of a 4 ms connect here.
    return DatabaseAddress(info.host, info.port, info.user, info.password, "postgres", ssl=False)


def start_provision(
    settings: Settings, rootdir: Path, owned: Optional[ServerInfo] = None
) -> Tuple[Provision, Optional[SupervisedServer]]:
    """Start (or connect to) the server and build the template. Raises PostgresError/SchemaError.

    ``owned``: a server async-test run started; used as it is, and left running (the runner stops
    it). The server returned is the one this call started, for ``finish_provision`` to stop.
    """
    began = time.monotonic()
    server: Optional[SupervisedServer] = None
    if owned is None and settings.database_url:
        admin, version = _foreign_server(settings.database_url)
        # A shared server may host several sessions at once: make our names unique.
        prefix = f"async_test_{secrets.token_hex(4)}"
        source, ready, socket_dir, owns = "url", 0.0, "", False
    else:
        if owned is None:
            server = server_for(settings)
            owned = server.start()
        admin, version, prefix = _own_address(owned), owned.version, "test"
        source = f"{owned.source}: {owned.bindir}"
        ready, socket_dir, owns = owned.ready_seconds, owned.socket_dir, True
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
        elif not owns:
            run_sync(lambda: drop_databases_with_prefix(admin, prefix))
        raise
    provision = Provision(
        admin_url=admin.url(options=True), prefix=prefix, template=template, version=version, source=source,
        schema=schema, owns_server=owns, ready_seconds=ready, socket_dir=socket_dir,
        timings={"server": round(started - began, 4), "template": round(time.monotonic() - started, 4)},
    )
    return provision, server


def server_for(settings: Settings) -> SupervisedServer:
    """The ephemeral server the settings describe (not started): the plugin's and the runner's."""
    return SupervisedServer(settings.pg_source, settings.pg_bin_dir, settings.pg_port, settings.pg_cluster,
                            settings.pg_workdir, settings.pg_auth, settings.pg_version)


def clone_for(provision: Provision, worker: str) -> DatabaseAddress:
    name = provision.database_for(worker)
    admin = provision.admin
    run_sync(lambda: clone_database(admin, provision.template, name))
    return admin.with_database(name)


def finish_provision(provision: Provision, server: Optional[SupervisedServer]) -> None:
    """Stop the server this process started, or drop what we created on someone else's."""
    if server is not None:
        server.stop()
    elif not provision.owns_server:
        try:
            run_sync(lambda: drop_databases_with_prefix(provision.admin, provision.prefix))
        except Exception:
            pass  # the server went away; nothing left to clean


def drop(provision: Provision, name: str) -> None:
    run_sync(lambda: drop_database(provision.admin, name))


def blocked_address(settings: Settings) -> DatabaseAddress:
    """Where the unit selection's exported variables point: a port nothing listens on, all access blocked."""
    from .postgres import free_port

    port = settings.pg_port or free_port()
    return DatabaseAddress("127.0.0.1", port, "postgres", "blocked-in-unit-tests", "test_unit")


