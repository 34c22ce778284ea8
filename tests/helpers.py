"""Helpers shared by the test modules."""

import subprocess


def postgres_processes() -> list:
    """PIDs of running postgres servers started by the harness (data dir named async-test-pg-*)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if "async-test-pg-" in line and "postgres" in line]
