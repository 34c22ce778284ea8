"""What checking the kept test environment's seal costs on reuse, against the install it saves (issue 23).

Paired rounds on the example service (requirements.txt, 27 packages) in the image: each round times
the check a reuse makes (``Entry.unsealed``: every file's owner and mode, and the Python's when uv
installed it into the cache) on the kept environment in the mounted cache, and the install that
reuse saves (a run with ASYNC_TEST_VENV_CACHE=false: uv resolves and installs again from its warm
cache), read from summary.json's ``dependency_install`` phase. Also the first, sealing install.

    ASYNC_TEST_IMAGE=async-test:ci python benchmarks/kept_env_check.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "harness" / "src"))

from async_test_harness.runner import venv_cache  # noqa: E402

HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"


def run(image: str, ws: Path, cache: Path, env: dict) -> float:
    cmd = [DOCKER, "run", "--rm", "-v", f"{ws}:/workspace", "-v", f"{cache}:/cache"]
    if os.path.exists(HOST_CA):
        cmd += ["-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    done = subprocess.run([*cmd, image, "backend", "--only", "unit"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-2000:])
    summary = json.loads((ws / "backend" / ".async-test" / "summary.json").read_text())
    return float(summary["phases"]["dependency_install"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    image = os.environ.get("ASYNC_TEST_IMAGE") or "async-test:ci"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        ws = root / "ws"
        shutil.copytree(REPO / "examples" / "service", ws,
                        ignore=shutil.ignore_patterns("__pycache__", ".async-test"))
        cache = root / "cache"
        cache.mkdir()
        for path in [ws, cache, *ws.rglob("*")]:
            os.lchown(path, 1000, 1000)
        first = run(image, ws, cache, {})
        kept = next(p for p in (cache / "venvs").iterdir() if p.is_dir())
        files = sum(len(f) + len(d) for _, d, f in os.walk(kept))
        checks, installs, reuses = [], [], []
        for _ in range(args.rounds):
            began = time.perf_counter()
            problem = venv_cache.Entry(kept).unsealed()
            checks.append(time.perf_counter() - began)
            assert problem is None, problem
            installs.append(run(image, ws, cache, {"ASYNC_TEST_VENV_CACHE": "false"}))
            reuses.append(run(image, ws, cache, {}))
    ratio = statistics.median(c / i for c, i in zip(checks, installs))
    print(f"kept environment: {files} entries; first install with sealing {first:.2f}s")
    print(f"check on reuse: median {statistics.median(checks) * 1000:.1f} ms "
          f"(rounds: {', '.join(f'{c * 1000:.1f}' for c in checks)})")
    print(f"install it saves: median {statistics.median(installs):.2f}s "
          f"(rounds: {', '.join(f'{i:.2f}' for i in installs)})")
    print(f"install phase of a reuse (key, check, touch): median {statistics.median(reuses) * 1000:.0f} ms")
    print(f"check / saved install, median of the rounds' ratios: {ratio * 100:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
