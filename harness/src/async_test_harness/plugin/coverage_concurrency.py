"""Coverage of code run in greenlets, when the project's coverage configuration says nothing.

SQLAlchemy's async layer runs the ORM's and the driver's synchronous code in greenlets. On Python
3.9 coverage.py's default tracer lost the lines that ran after a greenlet switch (the lines after
an ``await`` in a service: the example's integration coverage was 67.7 % there against 73.7 % on
3.11); ``concurrency = greenlet, thread`` restores them. ``async-test run`` asks for it through
``ENV_VAR`` (it measures; a plain ``pytest --cov`` is left as the project has it). A project that
sets ``concurrency`` itself keeps its own; without greenlet installed, only ``thread`` (coverage.py's
default) is used; with ``COVERAGE_CORE=sysmon`` nothing changes (that core cannot follow greenlets).

pytest-cov has no option for it and builds its ``Coverage`` before any conftest: the setting is
added to every ``Coverage`` made in this process after it read its configuration (the
constructor wrapped once, when this plugin loads, which is before pytest-cov starts measuring).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, List

ENV_VAR = "_ASYNC_TEST_COVERAGE_CONCURRENCY"
WANTED = "greenlet,thread"


def chosen(requested: str) -> List[str]:
    """The concurrency libraries to trace: those asked for that are installed (thread always is)."""
    names = [n.strip() for n in requested.split(",") if n.strip()]
    return [n for n in names if n == "thread" or importlib.util.find_spec(n) is not None]


def install() -> None:
    """Wrap ``coverage.Coverage.__init__`` when the runner asks for it (``ENV_VAR``); idempotent."""
    requested = os.environ.get(ENV_VAR, "")
    if not requested or os.environ.get("COVERAGE_CORE", "") == "sysmon":
        return
    try:
        import coverage
    except ImportError:
        return
    original = coverage.Coverage.__init__
    if getattr(original, "_async_test_concurrency", False):
        return
    concurrency = chosen(requested)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if kwargs.get("concurrency") is None and not self.config.concurrency:
            self.config.concurrency = list(concurrency)  # the project's own setting wins

    __init__._async_test_concurrency = True  # type: ignore[attr-defined]
    coverage.Coverage.__init__ = __init__  # type: ignore[method-assign]
