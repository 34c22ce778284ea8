"""Helpers shared by the test modules."""

import subprocess
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "service" / "backend"


def postgres_processes() -> List[str]:
    """PIDs of running postgres servers started by the harness (data dir named async-test-pg-*)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if "async-test-pg-" in line and "postgres" in line]
