"""Where the test database is, in every shape projects read it.

Settings modules read the database location from the environment at import
time, under many names; exporting all the common ones before collection lets
an existing suite find the harness's database without changes.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote, unquote, urlsplit

MASK = "***"


@dataclass(frozen=True)
class DatabaseAddress:
    host: str
    port: int
    user: str
    password: str
    database: str

    def url(self, driver: str = "", database: str = "") -> str:
        scheme = "postgresql" + (f"+{driver}" if driver else "")
        auth = quote(self.user, safe="") + (":" + quote(self.password, safe="") if self.password else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}@{host}:{self.port}/{quote(database or self.database, safe='')}"

    # Cached: db_url reads one for every test, and quoting costs ~10 us.
    @cached_property
    def async_url(self) -> str:
        return self.url("asyncpg")

    @cached_property
    def sync_url(self) -> str:
        return self.url()

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
    return DatabaseAddress(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")) or "postgres",
    )


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]*(@)")


def mask_url(url: str) -> str:
    """Hide the password of a URL; safe on text that is not a URL."""
    # The check first: the events file masks every string of every test's record, most without a URL.
    return _URL_PASSWORD.sub(r"\1" + MASK + r"\2", url) if "://" in url else url


@functools.lru_cache(maxsize=64)
def _forms(secret: str) -> Tuple[str, ...]:
    """A secret as text shows it: itself, URL-quoted, and escaped as repr() and pytest's test ids do."""
    forms = [secret, quote(secret, safe=""), repr(secret)[1:-1], secret.encode("unicode_escape").decode("ascii")]
    return tuple(sorted({f for f in forms if f}, key=len, reverse=True))


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Hide every secret in free text (error messages, logs) and the password of any URL in it.

    Apply it to text before it is escaped for a format (JSON, XML): ``mask_data`` for documents.
    """
    for secret in secrets:
        if secret:
            for form in _forms(secret):
                text = text.replace(form, MASK)
    return mask_url(text)


def mask_data(value: Any, secrets: Sequence[str]) -> Any:
    """``mask_text`` on every string (keys too) of a JSON-like value, before it is serialised.

    Masking the serialised text instead misses a secret JSON escapes (a quote, a backslash,
    anything outside ASCII).
    """
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, list):
        return [mask_data(v, secrets) for v in value]
    if isinstance(value, dict):
        return {mask_data(k, secrets): mask_data(v, secrets) for k, v in value.items()}
    return value


def mask_stream(source: IO[bytes], write: Callable[[bytes], None], secrets: Sequence[str]) -> None:
    """Copy ``source`` to ``write`` line by line with the secrets masked, until the end of ``source``.

    Whole lines only, so a secret is never split between two writes; a line still being written
    (pytest's progress dots) appears when it ends. Bytes that are not UTF-8 pass through unchanged.
    """
    for line in iter(source.readline, b""):
        text = line.decode("utf-8", "surrogateescape")
        write(mask_text(text, secrets).encode("utf-8", "surrogateescape"))


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
