"""``--async-test-select PATH``: the session keeps the tests an ``--affected`` run chose, deselects the rest.

The runner decides (affected.py, from the base's map and git's diff) and writes PATH, a JSON object:
``nodeids`` to run, ``test_files`` (project-relative) to run whole, and ``known``, every test the map
recorded: a collected test the map does not know is new and always runs. Narrowing happens here, as
for shards (plugin/shard.py), because only pytest knows the collected node ids; the narrowing itself
is plugin/narrowing.py's, shared with the runner's "only these tests" (plugin/selection.py). What was kept of what
was collected goes to ``PATH`` + ``.counts.json``, for the summary's "ran N of M", with the node ids
left out (their coverage is carried forward from the base's map: carryforward.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Set

import pytest

from ..affected import COUNTS_SUFFIX
from .narrowing import narrow

PLUGIN_NAME = "async_test_affected"


def add_options(parser: pytest.Parser) -> None:
    parser.getgroup("async-test").addoption(
        "--async-test-select", dest="async_test_select", default=None, metavar="PATH",
        help="run only the tests PATH (written by async-test run --affected) selects, and every test it does not know")


def register(config: pytest.Config) -> None:
    path = config.getoption("async_test_select", None)
    if path:
        config.pluginmanager.register(AffectedSelection(Path(str(path))), PLUGIN_NAME)


class AffectedSelection:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            self.nodeids: Set[str] = set(doc["nodeids"])
            self.test_files: Set[str] = set(doc["test_files"])
            self.known: Set[str] = set(doc["known"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise pytest.UsageError(f"async-test: the selection {path} cannot be read ({exc})") from None
        self.summary = ""

    def keeps(self, nodeid: str) -> bool:
        return nodeid in self.nodeids or nodeid not in self.known or nodeid.split("::", 1)[0] in self.test_files

    @pytest.hookimpl(tryfirst=True)  # before the kind's counts: they then count what will run
    def pytest_collection_modifyitems(self, config: pytest.Config, items: List[pytest.Item]) -> None:
        collected = len(items)
        keep, dropped = narrow(config, items, self.keeps)
        self.summary = f"async-test: affected: {len(keep)} of {collected} tests selected"
        counts = self.path.with_name(self.path.name + COUNTS_SUFFIX)
        tmp = counts.with_name(f"{counts.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps({"selected": len(keep), "collected": collected,  # left_out: for carryforward.py
                                      "left_out": [item.nodeid for item in dropped]}), encoding="utf-8")
            os.replace(tmp, counts)  # xdist workers collect alike: the last one's is everyone's
        except OSError:
            pass

    def pytest_report_collectionfinish(self) -> List[str]:
        return [self.summary] if self.summary else []
