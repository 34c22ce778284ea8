"""pytest plugin for the benchmarks: the median time per test, measured inside the run.

Loaded with ``-p pertest`` (benchmarks/ on PYTHONPATH). It records the time between the starts
of consecutive tests, which is everything pytest does for one test (hooks, fixtures, the test,
its report), and writes the median over all but the first fifth (warm-up) to the file named by
``BENCH_PERTEST_OUT``, in milliseconds. Measured in-process, so interpreter start-up, collection
and server start never enter it; the median shrugs off the moments this shared VM stalls.
``BENCH_PERTEST_CLOCK=process`` measures this process's CPU time instead of the wall clock: for
a change that only costs CPU in the test process, it is what other processes on a loaded machine
disturb least (the server's work and the waits for it are then left out).
"""

import os
import statistics
import time

_starts = []
_clock = time.process_time if os.environ.get("BENCH_PERTEST_CLOCK") == "process" else time.perf_counter


def pytest_runtest_protocol(item, nextitem):
    _starts.append(_clock())


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("BENCH_PERTEST_OUT")
    gaps = [b - a for a, b in zip(_starts, _starts[1:])]
    if out and gaps:
        kept = gaps[len(gaps) // 5:]
        with open(out, "w") as handle:
            handle.write(str(1000.0 * statistics.median(kept)))
