"""Where the test database is, in every shape projects read it.

Settings modules read the database location from the environment at import
time, under many names; exporting all the common ones before collection lets
an existing suite find the harness's database without changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..masking import mask_url


@dataclass(frozen=True)
class DatabaseAddress:
    host: str
    port: int
    user: str
    password: str
    database: str
    # False for the harness's own servers (configured without SSL): asking each connection to
    # upgrade first (asyncpg's default, sslmode=prefer) costs 1-1.5 ms of a 4 ms connect here. The
    # option travels in the URLs the harness's own engines use (``engine_url``) and in the URL a
    # provision is handed on with; never in what users see (``db_url``, the exported variables),
    # which projects take apart and rebuild with string operations.
    ssl: bool = True

    def url(self, driver: str = "", database: str = "", options: bool = False) -> str:
        scheme = "postgresql" + (f"+{driver}" if driver else "")
        auth = quote(self.user, safe="") + (":" + quote(self.password, safe="") if self.password else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        url = f"{scheme}://{auth}@{host}:{self.port}/{quote(database or self.database, safe='')}"
        if options and not self.ssl:
            url += "?ssl=disable" if driver == "asyncpg" else "?sslmode=disable"
        return url

    # Cached: db_url reads one for every test, and quoting costs ~10 us.
    @cached_property
    def async_url(self) -> str:
        return self.url("asyncpg")

    @cached_property
    def sync_url(self) -> str:
        return self.url()

    @cached_property
    def engine_url(self) -> str:
        """``async_url`` with the driver options, for the harness's own engines."""
        return self.url("asyncpg", options=True)

    def with_database(self, database: str) -> DatabaseAddress:
        return replace(self, database=database)

    @property
    def masked(self) -> str:
        return mask_url(self.sync_url)


def parse_url(url: str) -> DatabaseAddress:
    """Parse a postgres URL (any driver suffix) into its parts."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(
            f"{mask_url(url)} is not a PostgreSQL URL; expected postgresql://user:password@host:port/database"
        )
    query = dict(parse_qsl(parts.query))
    return DatabaseAddress(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")) or "postgres",
        ssl=query.get("ssl", query.get("sslmode", "")) != "disable",
    )


def engine_url_for(url: str, server: DatabaseAddress) -> str:
    """``url`` as the harness's engines use it: with ``server``'s driver options when it points there.

    For a URL the project's own ``db_url`` gives (or a database of the test's own): the fixtures
    know the server's address, not every URL that reaches it. Any option the URL sets itself wins.
    """
    if server.ssl:
        return url
    parts = urlsplit(url)
    host = server.host.strip("[]")
    if parts.hostname != host or (parts.port or 5432) != server.port:
        return url
    if any(name in ("ssl", "sslmode") for name, _ in parse_qsl(parts.query)):
        return url
    return url + ("&" if parts.query else "?") + "ssl=disable"


def environment_for(address: DatabaseAddress, templates: List[Tuple[str, str]]) -> Dict[str, str]:
    """The variables exported for a test database: common names plus the user's templates."""
    env = {
        "DATABASE_URL": address.sync_url,
        "ASYNC_DATABASE_URL": address.async_url,
        "PGHOST": address.host,
        "PGPORT": str(address.port),
        "PGUSER": address.user,
        "PGPASSWORD": address.password,
        "PGDATABASE": address.database,
        "POSTGRES_HOST": address.host,
        "POSTGRES_PORT": str(address.port),
        "POSTGRES_USER": address.user,
        "POSTGRES_PASSWORD": address.password,
        "POSTGRES_DB": address.database,
    }
    fields = {
        "user": address.user,
        "password": address.password,
        "host": address.host,
        "port": str(address.port),
        "database": address.database,
        "driver": "asyncpg",
        "url": address.sync_url,
        "async_url": address.async_url,
    }
    for name, template in templates:
        env[name.strip()] = template.format(**fields)
    return env


def export(variables: Mapping[str, str]) -> Dict[str, Optional[str]]:
    """Set the variables in os.environ; returns the previous values (None: was unset) for restore()."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    return previous


def restore(previous: Mapping[str, Optional[str]]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
