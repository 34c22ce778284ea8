"""Which tests a session selected, by node id, so that no test the runner asked for is lost silently.

A test that calls ``pytest.exit()`` or ``os._exit()``, or a crash, ends the session before the tests
after it run; pytest's exit code may still be 0, and the tests never run leave no trace. The runner
therefore asks (``SELECTED_ENV``) for the list of the tests the session kept once its selection is
final (``pytest_collection_finish``: after the shard, the kind, ``-k``/``-m`` and any plugin), with
each test's kind and location, and compares it with the tests that reported (runner/results.py).
Under xdist every worker collects the same tests and writes the same list (each atomically); the
controller, which does not collect, writes none. The list is in the order the session runs its tests
(``in_order``), except under xdist, where each worker runs the share the controller gives it: the
runner reads the order to tell which test was running when a session ended (pass_processes.py).

``unit_deferred`` says why the session handed its unit tests back to the runner, which runs them in
a process of their own (plugin/early_connections.py).

``ONLY_ENV`` names a file of node ids: the session keeps only those (the integration tests a session
that ended early did not run, given a process of their own), narrowed as ``--async-test-select``
narrows (plugin/narrowing.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Set

import pytest

from ..masking import mask_data, mask_text
from . import early_connections, events
from .classify import CLASSIFICATION_KEY
from .narrowing import narrow

SELECTED_ENV = "ASYNC_TEST_SELECTED"
ONLY_ENV = "ASYNC_TEST_ONLY_TESTS"
PLUGIN_NAME = "async_test_selection"


def register(config: pytest.Config) -> None:
    written, only = os.environ.get(SELECTED_ENV), os.environ.get(ONLY_ENV)
    if (written or only) and not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(Selection(written, _read_only(only) if only else None), PLUGIN_NAME)


def _read_only(path: str) -> Set[str]:
    try:
        return set(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"async-test: could not read the tests to run from {path}: {exc}") from None


class Selection:
    def __init__(self, path: Optional[str], only: Optional[Set[str]]) -> None:
        self.path = path
        self.only = only

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: List[pytest.Item]) -> None:
        if self.only is None:
            return
        narrow(config, items, self.only.__contains__)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.path or session.config.pluginmanager.has_plugin("dsession"):
            return  # an xdist controller collects nothing: its workers write the list
        tests = []
        for item in session.items:
            found = item.stash.get(CLASSIFICATION_KEY, None)
            # item.location is what every test report computes anyway (cached): no extra cost
            file, line, _ = item.location
            tests.append([item.nodeid, found.kind if found is not None else None, file, (line or 0) + 1])
        # Whole or absent: a worker writes its own temporary file and renames it over the others'.
        # Masked as the events are (a parameter can put a password in a node id): the two still compare.
        # One pass over all the text first: on 2,000 tests masking each string took 0.15 s, and a
        # secret (or a URL's password) in no test's text is in none of them.
        secrets = events.secrets_of(session.config)
        text = "\n".join(f"{nodeid}\n{file}" for nodeid, _, file, _ in tests)
        document = {"tests": mask_data(tests, secrets) if mask_text(text, secrets) != text else tests,
                    "in_order": not hasattr(session.config, "workerinput")}  # an xdist worker's order is not run order
        deferred = session.config.stash.get(early_connections.DEFERRED_KEY, None)
        if deferred is not None:  # the unit tests were handed back to the runner (early_connections.py)
            document["unit_deferred"] = mask_text(deferred, secrets)
        partial = f"{self.path}.{os.getpid()}.partial"
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(document, out)
        os.replace(partial, self.path)
