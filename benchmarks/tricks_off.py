"""pytest plugin for the benchmarks: turns off one of the harness's cross-module performance tricks.

Loaded with ``-p tricks_off`` (benchmarks/ on PYTHONPATH); ``BENCH_TRICKS_OFF`` names the tricks
to turn off, comma-separated. Patches the harness in the benchmark's process only: no setting of
the harness itself. Used to measure what each trick saves (docs/performance.md, session 6).

- ``send_ahead``: the between-tests message is sent and its reply read before the test ends.
- ``relay``: function-scoped loops open a connection per test instead of using the loop bridge.
- ``query_count``: no statement counting (issue 17 item 5): no listener on the harness's engines,
  no count read at a test's start or recorded at its end (what the harness did before it).
"""

import os

from async_test_harness.engine import isolation, query_count, relay
from async_test_harness.plugin import queries

OFF = {name.strip() for name in os.environ.get("BENCH_TRICKS_OFF", "").split(",") if name.strip()}
KNOWN = {"send_ahead", "relay", "query_count"}
if OFF - KNOWN:
    raise ValueError(f"BENCH_TRICKS_OFF: unknown {sorted(OFF - KNOWN)}; known: {sorted(KNOWN)}")

if "send_ahead" in OFF:
    isolation._sends_ahead = lambda driver, loop_scope: False

if "relay" in OFF:
    relay.available = lambda: False

if "query_count" in OFF:
    query_count.watch = lambda engine: None
    query_count.test_started = lambda: None
    queries.record = lambda item: None
