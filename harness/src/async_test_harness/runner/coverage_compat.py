"""coverage.py's private internals the runner uses, in one place (the runner's compat.py).

The runner never imports pytest, so this cannot live in ``compat.py`` (which does); the same rules
apply: each access is here, with the versions it was checked on and what degrades without it, and
``tests/unit/test_compat.py`` checks it against the installed coverage.py.

Checked on coverage.py 7.3-7.17.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Dict, Iterator, Tuple


@contextlib.contextmanager
def parse_each_file_once() -> Iterator[bool]:
    """Within the block, every report of every ``Coverage`` object shares one parse per source file.

    coverage.py makes a new ``PythonFileReporter`` for each file of each report, and each one parses
    the file again (``PythonFileReporter.parser``, which caches on the reporter only): the runner's
    four reports (an XML per pass, the combined JSON and XML) parsed every file four times, most of
    the coverage phase. The parse depends only on the file and the ``exclude`` patterns, which are
    the key here. Yields whether the cache is on; without the private property (a coverage.py that
    changed it) the reports are as before, only slower, and one line says so.
    """
    try:
        from coverage.python import PythonFileReporter

        original = PythonFileReporter.__dict__["parser"]
        assert isinstance(original, property) and original.fget is not None
    except (ImportError, KeyError, AssertionError):
        sys.stderr.write("async-test: warning: coverage.py changed PythonFileReporter.parser; each report parses "
                         "the sources again (slower, same results)\n")
        yield False
        return
    parsers: Dict[Tuple[str, Any], Any] = {}
    build = original.fget

    def shared(reporter: Any) -> Any:
        if getattr(reporter, "_parser", None) is None:
            key = (reporter.filename, reporter.coverage._exclude_regex("exclude"))
            parser = parsers.get(key)
            if parser is None:
                parser = parsers[key] = build(reporter)
            reporter._parser = parser
        return reporter._parser

    PythonFileReporter.parser = property(shared, doc=original.__doc__)  # type: ignore[method-assign,assignment]
    try:
        yield True
    finally:
        PythonFileReporter.parser = original  # type: ignore[method-assign,assignment]
