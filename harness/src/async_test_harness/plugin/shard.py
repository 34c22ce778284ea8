"""``--async-test-shard K/N``: this session keeps its part of the collected tests, deselects the rest.

Selection happens here, inside pytest, rather than in the runner: only pytest knows the node ids,
and doing it in the collection hook means one session for both passes, two pass processes and
every xdist worker all see the same collection and so keep the same part (``sharding.assign`` is
a pure function of the node ids, the durations file and N). It runs first among the collection
hooks, on every collected test, before the kind of a pass or ``-k``/``-m`` deselect any: the part
a test belongs to then never depends on which pass or which filter is looking.

Options (the runner passes them; they work with plain ``pytest`` too):
``--async-test-shard K/N``, ``--async-test-durations PATH`` (default: ``.async-test-durations.json``
at the root, when it exists), ``--async-test-shard-split-modules`` (assign single tests, not modules).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import pytest

from ..sharding import (
    DURATIONS_FILE,
    MAX_SECONDS,
    Shard,
    ShardError,
    assign,
    fingerprint,
    module_of,
    parse_shard,
    read_durations,
)
from . import events

PLUGIN_NAME = "async_test_shard"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("async-test")
    group.addoption("--async-test-shard", dest="async_test_shard", default=None, metavar="K/N",
                    help="run shard K of N: a deterministic part of the collected tests, balanced by the "
                         "durations file; every test is in exactly one shard")
    group.addoption("--async-test-durations", dest="async_test_durations", default=None, metavar="PATH",
                    help=f"recorded test durations that balance the shards (default: {DURATIONS_FILE} at "
                         "the root, if it exists)")
    group.addoption("--async-test-shard-split-modules", dest="async_test_shard_split_modules",
                    action="store_true", default=False,
                    help="assign single tests to shards, not whole modules (only for modules that share no "
                         "module- or class-scoped fixture)")


def register(config: pytest.Config) -> None:
    """Register the selection when a shard is asked for; a bad K/N is a usage error (pytest exit 4)."""
    text = config.getoption("async_test_shard", None)
    if not text:
        return
    try:
        shard = parse_shard(str(text))
    except ShardError as exc:
        events.write_event(os.environ.get(events.ENV_VAR), {"type": "usage_error", "message": str(exc)})
        raise pytest.UsageError(f"async-test: {exc}") from None
    given = config.getoption("async_test_durations", None)
    root = Path(str(config.rootpath))
    path: Optional[Path] = Path(given) if given else root / DURATIONS_FILE
    if path is not None and not path.is_absolute():
        path = root / path
    if not given and path is not None and not path.exists():
        path = None
    config.pluginmanager.register(
        ShardSelection(shard, path, bool(config.getoption("async_test_shard_split_modules", False))), PLUGIN_NAME)


class ShardSelection:
    def __init__(self, shard: Shard, durations: Optional[Path], split_modules: bool) -> None:
        self.shard = shard
        self.durations_path = durations
        self.split_modules = split_modules
        self.summary = ""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: List[pytest.Item]) -> None:
        ignored: List[str] = []
        try:
            durations = read_durations(self.durations_path, ignored) if self.durations_path is not None else {}
        except ShardError as exc:
            events.write_event(os.environ.get(events.ENV_VAR), {"type": "usage_error", "message": str(exc)})
            raise pytest.UsageError(f"async-test: {exc}") from None
        nodeids = [item.nodeid for item in items]
        placed = assign(nodeids, durations, self.shard.total, self.split_modules)
        keep = [item for item in items if placed[item.nodeid] == self.shard.index]
        dropped = [item for item in items if placed[item.nodeid] != self.shard.index]
        known = sum(1 for n in set(nodeids) if n in durations)
        modules = len({module_of(n) for n in nodeids})
        self.summary = (f"async-test: shard {self.shard}: {len(keep)} of {len(items)} tests "
                        f"({'single tests' if self.split_modules else f'whole modules, {modules} in all'}); "
                        f"durations known for {known} "
                        f"({self.durations_path if self.durations_path is not None else 'no durations file'})")
        if ignored:  # one line, not an error: the other tests' durations still balance the shards
            self.summary += (f"; {len(ignored)} duration(s) ignored, not a number of seconds from 0 to "
                             f"{MAX_SECONDS:g} (e.g. {ignored[0][:100]!r})")
        if not hasattr(config, "workerinput"):  # under xdist each worker selects alike; the controller reports
            events.write_event(os.environ.get(events.ENV_VAR), {
                "type": "shard", "index": self.shard.index, "total": self.shard.total, "collected": len(items),
                "selected": len(keep), "modules": modules, "known": known, "ignored_durations": len(ignored),
                # The same for every shard of one collection: combine refuses shards of different ones.
                "fingerprint": fingerprint(nodeids),
                "split_modules": self.split_modules,
                "durations_file": str(self.durations_path) if self.durations_path is not None else None,
            })
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    def pytest_report_collectionfinish(self) -> List[str]:
        return [self.summary] if self.summary else []
