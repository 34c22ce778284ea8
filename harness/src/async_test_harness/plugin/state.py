"""The harness's per-process state, shared by the plugin hooks and the fixtures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

from ..masking import mask_text
from ..server.address import DatabaseAddress, environment_for, export, restore
from ..server.postgres import PostgresError, SupervisedServer
from ..server.provision import RunDatabase, clone_for, drop, finish_run, start_run
from ..server.template import SchemaError
from ..settings import Settings


class DatabaseUnavailable(RuntimeError):
    """Raised to a test that needs the database when this run has none (the unit selection)."""


@dataclass
class HarnessState:
    settings: Settings
    rootdir: Path
    run: Optional[RunDatabase] = None
    server: Optional[SupervisedServer] = None
    address: Optional[DatabaseAddress] = None
    blocked: Optional[DatabaseAddress] = None
    configured: bool = True
    # Names this process's database: an xdist worker's id once the controller hands it the run.
    # Not PYTEST_XDIST_WORKER alone: a pytest started by a test inside a worker inherits that.
    worker: str = "main"
    owns_run: bool = False
    loop_scope: str = ""
    timeout: str = ""
    warnings: List[str] = field(default_factory=list)
    failure: Optional[str] = None
    exported: Dict[str, str] = field(default_factory=dict)
    _previous_env: Dict[str, Optional[str]] = field(default_factory=dict)
    _fresh_ids: itertools.count[int] = field(default_factory=itertools.count)
    closed: bool = False

    @property
    def secrets(self) -> List[str]:
        return [self.run.admin.password] if self.run else []

    def mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def export_for(self, address: DatabaseAddress) -> None:
        variables = environment_for(address, self.settings.env_templates())
        previous = export(variables)
        for name, value in previous.items():
            self._previous_env.setdefault(name, value)
        self.exported = variables

    def start(self) -> None:
        """Provision the run (server and template) in this process, then this process's database."""
        self.attach(self._own(self._provision))

    def _own(self, provide: Callable[[], RunDatabase]) -> RunDatabase:
        """Take the run ``provide`` makes as this process's to finish; a failure is recorded (masked)
        for the report and raised."""
        try:
            run = provide()
        except (PostgresError, SchemaError) as exc:
            self.failure = self.mask(str(exc))
            raise
        self.run, self.owns_run = run, True
        return run

    def _provision(self) -> RunDatabase:
        run, server = start_run(self.settings, self.rootdir)
        self.server = server
        return run

    def attach(self, run: RunDatabase) -> None:
        """Clone this process's database from the run's template and export it."""
        self.run = run
        if run.owns_server:
            from ..engine import connection_cache

            connection_cache.skip_ssl_for(run.admin.host, run.admin.port)
        self.address = clone_for(run, self.worker)
        self.export_for(self.address)

    def ensure(self) -> DatabaseAddress:
        """This process's database, started on first use when it was not started before collection."""
        if self.address is not None:
            return self.address
        if self.blocked is not None:
            raise DatabaseUnavailable(
                "This run selected unit tests only (kind=unit), so no database was started. "
                "Run integration tests with --async-test-kind=integration or all."
            )
        if self.failure:
            raise DatabaseUnavailable(f"The test database could not be started: {self.failure}")
        try:
            self.start()
        except (PostgresError, SchemaError) as exc:
            raise DatabaseUnavailable(f"The test database could not be started: {self.mask(str(exc))}") from None
        assert self.address is not None
        return self.address

    def recreate_database(self) -> None:
        """This process's database again from the template: a test committed into it for real."""
        assert self.run is not None and self.address is not None
        drop(self.run, self.address.database)  # WITH (FORCE): the run's other connections to it end
        clone_for(self.run, self.worker)

    def fresh_database(self) -> DatabaseAddress:
        """A new database cloned from the template, for a test that needs real commits."""
        self.ensure()  # raises DatabaseUnavailable with the reason
        assert self.run is not None
        name = f"{self.worker}_fresh_{next(self._fresh_ids)}"
        return clone_for(self.run, name)

    def drop_fresh(self, address: DatabaseAddress) -> None:
        assert self.run is not None
        drop(self.run, address.database)

    def close(self) -> None:
        """Stop what this process started and restore the environment; safe to call twice (from
        pytest_unconfigure, then from the config's cleanup that also runs when a conftest fails)."""
        if self.closed:
            return
        self.closed = True
        # A worker's own clone: dropped on someone else's server; on ours the controller removes the
        # whole cluster next, and the drop would only keep the controller waiting for this worker.
        if self.run is not None and self.address is not None and not self.owns_run and not self.run.owns_server:
            try:
                drop(self.run, self.address.database)
            except Exception:
                pass
        if self.owns_run and self.run is not None:
            finish_run(self.run, self.server)
        self.server = None
        restore(self._previous_env)
        self._previous_env = {}


STATE_KEY = pytest.StashKey[HarnessState]()


def state_of(config: pytest.Config) -> HarnessState:
    try:
        return config.stash[STATE_KEY]
    except KeyError:
        raise pytest.UsageError(
            "The async-test plugin is not configured in this session (was it disabled with -p no:async_test?)."
        ) from None
