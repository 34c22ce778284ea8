"""The plugin's per-process state, shared by the hooks and the fixtures: settings, the session's
provision, this process's database, what was exported."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from ..masking import mask_text
from ..server.address import DatabaseAddress, environment_for, export, restore
from ..server.postgres import PostgresError, ServerInfo, SupervisedServer
from ..server.provision import Provision, clone_for, drop, finish_provision, start_provision
from ..server.template import SchemaError
from ..settings import Settings


class DatabaseUnavailable(RuntimeError):
    """Raised to a test that needs the database when this run has none (the unit selection)."""


@dataclass
class PluginState:
    settings: Settings
    rootdir: Path
    provision: Optional[Provision] = None
    # The server async-test run started for this pass (provision.take_owned_server), if any.
    owned_server: Optional[ServerInfo] = None
    server: Optional[SupervisedServer] = None  # the server this process started: it stops it
    address: Optional[DatabaseAddress] = None
    blocked: Optional[DatabaseAddress] = None
    configured: bool = True
    # Names this process's database: an xdist worker's id once the controller hands it the provision.
    # Not PYTEST_XDIST_WORKER alone: a pytest started by a test inside a worker inherits that.
    worker: str = "main"
    owns_provision: bool = False
    loop_scope: str = ""
    timeout: str = ""
    warnings: List[str] = field(default_factory=list)
    failure: Optional[str] = None
    exported: Dict[str, str] = field(default_factory=dict)
    _previous_env: Dict[str, Optional[str]] = field(default_factory=dict)
    _own_ids: itertools.count[int] = field(default_factory=itertools.count)
    closed: bool = False

    @property
    def secrets(self) -> List[str]:
        return [self.provision.admin.password] if self.provision else []

    def mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def export_for(self, address: DatabaseAddress) -> None:
        variables = environment_for(address, self.settings.env_templates())
        previous = export(variables)
        for name, value in previous.items():
            self._previous_env.setdefault(name, value)
        self.exported = variables

    def start(self) -> None:
        """Provision the session (server and template) in this process, then this process's database.

        A failure is recorded (masked) for the report and raised.
        """
        try:
            provision, self.server = start_provision(self.settings, self.rootdir, self.owned_server)
        except (PostgresError, SchemaError) as exc:
            self.failure = self.mask(str(exc))
            raise
        self.owns_provision = True
        self.attach(provision)

    def attach(self, provision: Provision) -> None:
        """Clone this process's database from the session's template and export it."""
        self.provision = provision
        self.address = clone_for(provision, self.worker)
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
        assert self.provision is not None and self.address is not None
        drop(self.provision, self.address.database)  # WITH (FORCE): the run's other connections to it end
        clone_for(self.provision, self.worker)

    def own_database(self) -> DatabaseAddress:
        """A new database cloned from the template, for a test that needs real commits."""
        self.ensure()  # raises DatabaseUnavailable with the reason
        assert self.provision is not None
        name = f"{self.worker}_own_{next(self._own_ids)}"
        return clone_for(self.provision, name)

    def drop_own_database(self, address: DatabaseAddress) -> None:
        assert self.provision is not None
        drop(self.provision, address.database)

    def close(self) -> None:
        """Stop what this process started and restore the environment; safe to call twice (from
        pytest_unconfigure, then from the config's cleanup that also runs when a conftest fails)."""
        if self.closed:
            return
        self.closed = True
        # A worker's own clone: dropped on someone else's server; on ours the controller removes the
        # whole cluster next, and the drop would only keep the controller waiting for this worker.
        provision = self.provision
        if provision is not None and self.address is not None and not self.owns_provision and not provision.owns_server:
            try:
                drop(provision, self.address.database)
            except Exception:
                pass
        if self.owns_provision and self.provision is not None:
            finish_provision(self.provision, self.server)
        self.server = None
        restore(self._previous_env)
        self._previous_env = {}


STATE_KEY = pytest.StashKey[PluginState]()


def state_of(config: pytest.Config) -> PluginState:
    try:
        return config.stash[STATE_KEY]
    except KeyError:
        raise pytest.UsageError(
            "The async-test plugin is not configured in this session (was it disabled with -p no:async_test?)."
        ) from None
