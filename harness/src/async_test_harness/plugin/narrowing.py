"""Keeping some collected tests by node id, the rest deselected: one way for every "run only these".

Two mechanisms narrow a session to node ids the runner chose: ``--async-test-select`` (an
``--affected`` run's selection, plugin/affected.py) and ``ASYNC_TEST_ONLY_TESTS`` (the tests a
session that ended early did not run, plugin/selection.py). They differ in *what* they keep and
*when* (the affected selection before the kind's counts, the "only" list after every other
narrowing), so each keeps its hook; *how* they narrow is this one function: the dropped tests are
reported through ``pytest_deselected`` (as pytest's own ``-k`` does: the terminal and the events
count them) and the list is changed in place.
"""

from __future__ import annotations

from typing import Callable, List, Tuple

import pytest


def narrow(config: pytest.Config, items: List[pytest.Item],
           keeps: Callable[[str], bool]) -> Tuple[List[pytest.Item], List[pytest.Item]]:
    """Keep the items whose node id ``keeps`` accepts, in their order; (kept, dropped)."""
    keep: List[pytest.Item] = []
    dropped: List[pytest.Item] = []
    for item in items:
        (keep if keeps(item.nodeid) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    return keep, dropped
