"""Speed of the harness against the baselines users have today, measured side by side in one run.

    python benchmarks/run.py            # full sizes (several minutes)
    python benchmarks/run.py --quick    # small N, what CI runs to keep this working

Writes benchmarks/results/latest.md and latest.json: machine information, medians and spread
over repeated runs, ratios, and each target beside its measured figure. Nothing here asserts a
time; docs/performance.md explains the figures.

Per-test costs are the median time per test measured inside each run (benchmarks/pertest.py), so
server start, collection and interpreter start-up never enter them; "overhead" subtracts the
figure of the same tests without any database measured in the same round (rounds pair variants
against the machine's drift).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
WRAPPER = ROOT / "benchmarks" / "pg_ctl_as_postgres.sh"

MODELS = "from sqlalchemy import ForeignKey, String\nfrom sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n" \
         "class Base(DeclarativeBase):\n    pass\n" + "".join(
             f"\n\nclass T{i}(Base):\n    __tablename__ = 't{i}'\n    id: Mapped[int] = mapped_column(primary_key=True)\n"
             f"    name: Mapped[str] = mapped_column(String(50), index=True)\n    value: Mapped[int] = mapped_column(default=0)\n"
             + (f"    parent_id: Mapped[int | None] = mapped_column(ForeignKey('t{i - 1}.id'))\n" if i else "")
             for i in range(20))


def stats(samples: List[float]) -> Dict[str, Any]:
    return {"median": round(statistics.median(samples), 4), "min": round(min(samples), 4),
            "max": round(max(samples), 4), "n": len(samples)}


def clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASYNC_TEST_", "PG", "POSTGRES_", "COVERAGE_")) and k != "DATABASE_URL"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def wall(cmd: List[str], cwd: Path, env: Dict[str, str], ok: Callable[[int], bool] = lambda rc: rc == 0) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if not ok(done.returncode):
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return seconds


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> Dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    from importlib.metadata import version

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "python": platform.python_version(),
            "os": platform.platform(), "pytest": version("pytest"), "pytest_asyncio": version("pytest-asyncio"),
            "sqlalchemy": version("sqlalchemy"), "asyncpg": version("asyncpg")}


# ----------------------------------------------------------------------------- 1. ready time


def bench_ready(repeats: int, work: Path) -> Dict[str, Any]:
    from async_test_harness.server.postgres import ALWAYS_INITDB, Server, find_binaries, init_cluster

    binaries = find_binaries()
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    cluster = work / "cluster"
    init_cluster(cluster, binaries)
    results: Dict[str, Any] = {"postgresql": binaries.version}
    variants = (
        ("pre-initialised cluster (harness, image)", str(cluster)),
        ("initdb from scratch", ALWAYS_INITDB),
        ("host default (cluster cache in ~/.cache/async-test)", None),
    )
    for label, source in variants:
        samples = []
        for _ in range(repeats):
            server = Server(binaries, 0, source)
            try:
                samples.append(server.start().ready_seconds)
            finally:
                server.stop()
        results[label] = stats(samples)
    results["pytest-postgresql process fixture"] = bench_ready_pytest_postgresql(repeats, work, binaries.bindir)
    return results


def bench_ready_pytest_postgresql(repeats: int, work: Path, bindir: Path) -> Dict[str, Any]:
    try:
        from pytest_postgresql.executors import PostgreSQLExecutor
    except ImportError:
        return {"skipped": "pip install -r benchmarks/requirements.txt"}
    samples = []
    os.environ["PG_CTL"] = str(bindir / "pg_ctl")
    for i in range(repeats):
        base = Path(tempfile.mkdtemp(prefix="ppg-", dir="/tmp"))
        base.chmod(0o777)
        executor = PostgreSQLExecutor(
            executable=str(WRAPPER), host="127.0.0.1", port=free_port(), datadir=str(base / f"data{i}"),
            unixsocketdir=str(base), logfile=str(base / "log"), startparams="-w", dbname="tests")
        began = time.perf_counter()
        executor.start()
        samples.append(time.perf_counter() - began)
        # start() returns once `pg_ctl status` sees the server; `pg_ctl start -w` itself polls a little
        # longer. Stopping before it exits made it print "could not start server" (it was running).
        if executor.process is not None:
            executor.process.wait(timeout=60)
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)
    return stats(samples)


# ----------------------------------------------------------------------------- 2. isolation


ISOLATION_TEST = """
import os, pytest
from sqlalchemy import text
N = int(os.environ["BENCH_N"])

@pytest.mark.parametrize("i", range(N))
async def test_trivial(async_db_session, i):
    await async_db_session.execute(text("SELECT 1"))
"""

BASELINE_TEST = """
import os, pytest
N = int(os.environ["BENCH_N"])

@pytest.mark.parametrize("i", range(N))
async def test_trivial(i):
    pass
"""

HANDWRITTEN_CONFTEST = """
# The fixture teams write today (seed-notes pattern 2): new engine + create_all per test.
import os
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from models import Base

@pytest_asyncio.fixture
async def async_db_session():
    engine = create_async_engine(os.environ["ASYNC_DATABASE_URL"])
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with AsyncSession(engine) as session:
        yield session
        await session.rollback()
    await engine.dispose()
"""

SHARED_SESSION_CONFTEST = """
# No isolation at all: every test's statement on one session that lives for the whole run. What
# the test's own query costs through SQLAlchemy, for reading the isolation figures against.
import os
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def async_db_session():
    engine = create_async_engine(os.environ["ASYNC_DATABASE_URL"])
    async with AsyncSession(engine) as session:
        yield session
    await engine.dispose()
"""

PYTEST_POSTGRESQL_CONFTEST = """
import os
from pytest_postgresql import factories
from sqlalchemy import create_engine
from models import Base

def load(host, port, user, dbname, password=None, **_):
    engine = create_engine(f"postgresql+psycopg://{user}:{password or ''}@{host}:{port}/{dbname}")
    Base.metadata.create_all(engine)
    engine.dispose()

postgresql_proc = factories.postgresql_proc(executable=os.environ["WRAPPER"], port=None, load=[load])
postgresql = factories.postgresql("postgresql_proc")
"""

PYTEST_POSTGRESQL_TEST = """
import os, pytest
N = int(os.environ["BENCH_N"])

@pytest.mark.parametrize("i", range(N))
def test_trivial(postgresql, i):
    with postgresql.cursor() as cur:
        cur.execute("SELECT 1")
"""


def isolation_project(work: Path, name: str, ini: str, test: str, conftest: str = "") -> Path:
    project = work / name
    write(project / "pytest.ini", "[pytest]\nasyncio_mode = auto\npythonpath = .\n" + ini)
    write(project / "models.py", MODELS)
    write(project / "test_bench.py", test)
    if conftest:
        write(project / "conftest.py", conftest)
    return project


def per_test_ms(project: Path, n: int, env: Dict[str, str], extra: List[str]) -> float:
    """Median ms per test inside one run of n tests (benchmarks/pertest.py)."""
    out = project / ".pertest"
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pertest",
           f"--basetemp={project}/.tmp", *extra]
    pythonpath = os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), env.get("PYTHONPATH")]))
    wall(cmd, project, dict(env, BENCH_N=str(n), BENCH_PERTEST_OUT=str(out), PYTHONPATH=pythonpath))
    return float(out.read_text())


def per_test(project: Path, n: int, repeats: int, env: Dict[str, str], extra: List[str]) -> Dict[str, Any]:
    return stats([per_test_ms(project, n, env, extra) for _ in range(repeats)])


FLOOR = "no database (pytest + pytest-asyncio floor)"
FUNCTION_FLOOR = "no database, function-scoped loops (floor for the next line)"
FUNCTION_LOOPS = "async_db_session, function-scoped loops forced"
SHARED_SESSION = "same query on one shared session, no isolation (for reference)"


def bench_isolation(n: int, repeats: int, work: Path) -> Dict[str, Any]:
    harness_ini = "async_test_metadata = models:Base\n"
    function_ini = harness_ini + "asyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"
    env = clean_env()
    variants = {
        FLOOR: (isolation_project(work, "baseline", harness_ini, BASELINE_TEST), []),
        SHARED_SESSION: (isolation_project(work, "shared", harness_ini, ISOLATION_TEST, SHARED_SESSION_CONFTEST), []),
        "async_db_session, harness defaults (session loop)": (isolation_project(work, "harness", harness_ini, ISOLATION_TEST), []),
        FUNCTION_FLOOR: (isolation_project(work, "baseline_function", function_ini, BASELINE_TEST), []),
        FUNCTION_LOOPS: (isolation_project(work, "function", function_ini, ISOLATION_TEST), []),
        "hand-written fixture (new engine + create_all per test)": (
            isolation_project(work, "handwritten", harness_ini, ISOLATION_TEST, HANDWRITTEN_CONFTEST), []),
    }
    # Rounds, not variant after variant: each round measures every variant back to back, and each
    # overhead is taken against its floor *from the same round*, so slow minutes on a shared VM
    # cancel out of the differences.
    samples: Dict[str, List[float]] = {label: [] for label in variants}
    for _ in range(repeats):
        for label, (project, extra) in variants.items():
            samples[label].append(per_test_ms(project, n, env, extra))
    results: Dict[str, Any] = {"n": n, "rounds": repeats}
    for label, values in samples.items():
        floor = FUNCTION_FLOOR if label in (FUNCTION_FLOOR, FUNCTION_LOOPS) else FLOOR
        results[label] = dict(stats(values), overhead_ms=round(statistics.median(
            [v - f for v, f in zip(values, samples[floor])]), 3))
    try:
        import pytest_postgresql  # noqa: F401

        from async_test_harness.server.postgres import find_binaries

        project = isolation_project(work, "pytest_postgresql", "", PYTEST_POSTGRESQL_TEST, PYTEST_POSTGRESQL_CONFTEST)
        ppg_env = dict(env, WRAPPER=str(WRAPPER), PG_CTL=str(find_binaries().bindir / "pg_ctl"))
        base = Path(tempfile.mkdtemp(prefix="ppg-", dir="/tmp"))
        base.chmod(0o777)
        # ~250 ms a test: 100 tests are plenty for its median, and keep the run short.
        results["pytest-postgresql per-test database from a template"] = per_test(
            project, min(n, 100), min(repeats, 3), ppg_env, ["-p", "no:async_test", f"--basetemp={base}"])
    except ImportError:
        results["pytest-postgresql per-test database from a template"] = {"skipped": "pip install -r benchmarks/requirements.txt"}
    # Overhead = what the fixture adds to the same test body without a database, in the same loop
    # configuration: a function-scoped loop's own set-up is the project's choice, not the fixture's.
    ppg = results["pytest-postgresql per-test database from a template"]
    if "median" in ppg:
        ppg["overhead_ms"] = round(ppg["median"] - results[FLOOR]["median"], 3)
    return results


# ----------------------------------------------------------------------------- 3. unit pass overhead


UNIT_TEST = """
from unittest.mock import AsyncMock, MagicMock
import pytest
from app import service

@pytest.mark.parametrize("i", range(1000))
async def test_mocked(i):
    db = MagicMock()
    db.execute = AsyncMock(return_value=i)
    assert await service.handle(db, i) == i
"""


def bench_unit_pass(repeats: int, work: Path) -> Dict[str, Any]:
    project = work / "unit"
    write(project / "pytest.ini", "[pytest]\nasyncio_mode = auto\npythonpath = src\n")
    write(project / "src" / "app" / "__init__.py", "")
    write(project / "src" / "app" / "service.py", "async def handle(db, i):\n    return await db.execute(i)\n")
    write(project / "tests" / "unit" / "test_unit.py", UNIT_TEST)
    env = clean_env()
    # Plain pytest as a project runs it: its defaults (the cache provider writes .pytest_cache, as the
    # unit pass writes it in the results folder), only the harness's own plugin switched off.
    plain = [PYTHON, "-m", "pytest", "-q", "-p", "no:async_test"]
    ours = [PYTHON, "-m", "async_test_harness.cli", "run", str(project), "--only", "unit",
            "--results-dir", str(work / "unit-results")]
    results: Dict[str, Any] = {}
    pairs = {
        "without coverage": (plain, [*ours, "--no-coverage"]),
        "with coverage": ([*plain, "--cov=src", "--cov-report="], ours),
    }
    # Paired rounds (plain, then ours, repeated), and the ratio is the median of the rounds' ratios:
    # run back to back in blocks, a slow or fast stretch of this shared VM landed on one side only.
    for label, (base_cmd, our_cmd) in pairs.items():
        base: List[float] = []
        mine: List[float] = []
        for _ in range(repeats):
            base.append(wall(base_cmd, project, dict(env, COVERAGE_FILE=str(work / ".cov"))))
            mine.append(wall(our_cmd, project, env))
        results[label] = {"plain pytest": stats(base), "async-test run, unit pass": stats(mine),
                          "ratio": round(statistics.median([m / b for m, b in zip(mine, base)]), 3)}
    return results


# ----------------------------------------------------------------------------- 4. xdist


XDIST_TEST = """
import os, pytest
from sqlalchemy import text
N = int(os.environ["BENCH_N"])

@pytest.mark.parametrize("i", range(N))
async def test_heavy(async_db_session, i):
    for j in range(60):
        await async_db_session.execute(text("INSERT INTO t0 (id, name, value) VALUES (:i, 'x', :v)"),
                                       {"i": j + 1, "v": i})
    await async_db_session.commit()
    total = await async_db_session.scalar(text("SELECT sum(t0.value) FROM t0 LEFT JOIN t1 ON t1.parent_id = t0.id"))
    assert total is None or total >= 0
"""


XDIST_SMALL = 200  # the suite size of sessions 1-2, kept as an information row


def bench_xdist(n: int, repeats: int, work: Path) -> Dict[str, Any]:
    """Wall time of whole DB-heavy runs with 1 and 2 workers: what a CI job sees, start-up of the
    workers included, in paired rounds.

    The suite is n tests (1,000 in a full run: about 17 s on one worker here). A run also pays a
    fixed ~2 s (Python, pytest, xdist and SQLAlchemy imports in every process, the server, the
    template, shutting the workers down) that a second worker cannot split, so the speedup depends
    on the suite's size: the same runs with one test measure that fixed part, the slope between
    the two sizes the per-test scaling, and a 200-test suite shows a small suite's speedup.
    """
    project = isolation_project(work, "xdist", "async_test_metadata = models:Base\n", XDIST_TEST)
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    sizes = sorted({1, min(XDIST_SMALL, n), n})
    samples: Dict[Tuple[int, int], List[float]] = {(size, w): [] for size in sizes for w in (1, 2)}
    for _ in range(repeats):
        for size in sizes:
            env = clean_env(BENCH_N=str(size))
            for workers in (1, 2):
                samples[(size, workers)].append(wall([*cmd, "-n", str(workers)], project, env))

    def median(size: int, workers: int) -> float:
        return statistics.median(samples[(size, workers)])

    per_test = {w: (median(n, w) - median(1, w)) / (n - 1) * 1000 for w in (1, 2)}
    results: Dict[str, Any] = {
        "n": n, "1 worker": stats(samples[(n, 1)]), "2 workers": stats(samples[(n, 2)]),
        "speedup": round(median(n, 1) / median(n, 2), 3),
        "fixed cost (1 test), 1 worker": stats(samples[(1, 1)]),
        "fixed cost (1 test), 2 workers": stats(samples[(1, 2)]),
        "per test ms, 1 worker": round(per_test[1], 3), "per test ms, 2 workers": round(per_test[2], 3),
        "per-test scaling": round(per_test[1] / per_test[2], 3),
    }
    if XDIST_SMALL < n:
        results[f"speedup, {XDIST_SMALL}-test suite"] = round(median(XDIST_SMALL, 1) / median(XDIST_SMALL, 2), 3)
    return results


# ----------------------------------------------------------------------------- 5. image


IMAGE_MODES = ("cold", "warm uv cache", "kept environment")


def _image_project(kind: str, work: Path) -> Path:
    """The example service as it is (requirements.txt), or locked by ``uv lock`` (uv.lock, no requirements)."""
    ws = work / f"ws-{kind}"
    if not ws.exists():
        shutil.copytree(ROOT / "examples" / "service", ws)
        if kind == "uv.lock":
            backend = ws / "backend"
            deps = [line.strip() for line in (backend / "requirements.txt").read_text().splitlines() if line.strip()]
            (backend / "pyproject.toml").write_text(
                '[project]\nname = "service"\nversion = "0"\nrequires-python = ">=3.11"\n'
                f"dependencies = {json.dumps(deps)}\n")
            (backend / "requirements.txt").unlink()
            subprocess.run(["uv", "lock", "--quiet", "--project", str(backend)], check=True)
    for path in [ws, *ws.rglob("*")]:
        os.lchown(path, 1000, 1000)
    return ws


def bench_image(image: str, repeats: int, work: Path) -> Dict[str, Any]:
    """``docker run`` of the example service (requirements.txt) and the same service locked (uv.lock):
    cold (empty cache), warm uv cache (the environment installed again from it), kept environment
    (reused as it is). Rounds alternate the three modes so a slow minute of this VM hits all of them."""
    docker = shutil.which("docker", path="/usr/bin") or "docker"
    results: Dict[str, Any] = {"image": image, "modes": list(IMAGE_MODES)}
    for kind in ("requirements.txt", "uv.lock"):
        ws = _image_project(kind, work)
        warm = work / f"cache-warm-{kind}"
        warm.mkdir(exist_ok=True)
        os.chown(warm, 1000, 1000)

        def docker_run(cache: Path, *env: str, ws: Path = ws) -> Dict[str, float]:
            began = time.perf_counter()
            done = subprocess.run([docker, "run", "--rm", "--shm-size=1g", "-v", f"{ws}:/workspace",
                                   "-v", f"{cache}:/cache", *ca_args(), *env, image, "backend"],
                                  capture_output=True, text=True)
            total = time.perf_counter() - began
            if done.returncode != 0:
                raise RuntimeError(f"docker run failed ({done.returncode}): {done.stdout[-2000:]}")
            phases = json.loads((ws / "backend" / ".async-test" / "summary.json").read_text())["phases"]
            return {"wall": total, "dependency_install": phases.get("dependency_install", 0.0),
                    "tests and reports": phases.get("total", 0.0)}

        docker_run(warm)  # fills the uv cache and keeps the environment
        runs: Dict[str, List[Dict[str, float]]] = {mode: [] for mode in IMAGE_MODES}
        for r in range(repeats):
            cold = work / f"cache-cold-{kind}-{r}"
            cold.mkdir()
            os.chown(cold, 1000, 1000)
            runs["cold"].append(docker_run(cold))
            runs["warm uv cache"].append(docker_run(warm, "-e", "ASYNC_TEST_VENV_CACHE=false"))
            runs["kept environment"].append(docker_run(warm))
            shutil.rmtree(cold, ignore_errors=True)
        figures = {mode: {key: stats([run[key] for run in rs]) for key in rs[0]} for mode, rs in runs.items()}
        figures["install ratio kept/warm"] = round(
            statistics.median(r["dependency_install"] for r in runs["kept environment"])
            / statistics.median(r["dependency_install"] for r in runs["warm uv cache"]), 3)
        results[kind] = figures
    return results


# ----------------------------------------------------------------------------- 6. async-test run vs pytest --cov


RUN_UNIT, RUN_INTEGRATION = 150, 150


def bench_run(repeats: int, work: Path, unit: int = RUN_UNIT, integration: int = RUN_INTEGRATION) -> Dict[str, Any]:
    """``async-test run`` against the plain ``pytest --cov`` it replaces, on one already-running server.

    Both get the same server (``ASYNC_TEST_DATABASE_URL``), so neither pays a server start; each
    builds its template, as each pytest does. Rounds alternate the commands (plain, one session,
    separate passes, rotating which goes first) and each ratio is the median of the rounds' ratios.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from service_project import generate

    from async_test_harness.server.postgres import SupervisedServer

    # The harness here is an editable install, whose modules have no bytecode, and both commands run
    # with PYTHONDONTWRITEBYTECODE: each run compiled about 40 harness modules from source (0.1-0.2 s,
    # mostly in the runner). An installed wheel has its bytecode (pip compiles it; the image too).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "harness" / "src")], check=True,
                   capture_output=True)
    server = SupervisedServer()
    info = server.start()
    url = f"postgresql://{info.user}:{info.password}@{info.host}:{info.port}/postgres"
    try:
        results: Dict[str, Any] = {"unit tests": unit, "integration tests": integration}
        for label, units in (("service", unit), ("no unit tests", 0)):
            project = generate(work / label.replace(" ", "-"), unit=units, integration=integration)
            env = clean_env(ASYNC_TEST_DATABASE_URL=url)
            plain = [PYTHON, "-m", "pytest", "-q", "-p", "no:randomly", "--cov=src/app"]
            # The harness measures with concurrency = greenlet, thread (SQLAlchemy's async layer runs in
            # greenlets; without it coverage.py loses or misplaces lines: issue 22 item 7). The baseline
            # of the target is plain pytest --cov measuring the same way; thread-only is shown beside it.
            rc = work / f"{label.replace(' ', '-')}.coveragerc"
            rc.write_text("[run]\nconcurrency = greenlet, thread\n")
            ours = [PYTHON, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                    str(work / "results"), "--", "-p", "no:randomly"]
            commands = {"plain pytest --cov": [*plain, f"--cov-config={rc}"], "async-test run": ours,
                        "async-test run --separate-passes": [*ours[:-3], "--separate-passes", *ours[-3:]],
                        "plain pytest --cov, thread only": plain}
            times: Dict[str, List[float]] = {name: [] for name in commands}
            phases: Dict[str, List[float]] = {}
            names = list(commands)
            for round_no in range(repeats):
                for name in names[round_no % len(names):] + names[:round_no % len(names)]:
                    # exit 1 from a test would be a broken benchmark: every generated test passes
                    times[name].append(wall(commands[name], project, env))
                    if name == "async-test run":
                        summary = json.loads((work / "results" / "summary.json").read_text())
                        for phase, seconds in summary["phases"].items():
                            phases.setdefault(phase, []).append(seconds)
            row: Dict[str, Any] = {name: stats(samples) for name, samples in times.items()}
            base = times["plain pytest --cov"]
            for name in names[1:]:
                row[f"ratio, {name}"] = round(statistics.median([m / b for m, b in zip(times[name], base)]), 3)
            row["phases of async-test run"] = {phase: stats(samples) for phase, samples in phases.items()}
            coverage_share = [c / t for c, t in zip(phases.get("coverage", []), phases.get("total", [])) if t]
            if coverage_share:
                row["coverage phase share"] = round(statistics.median(coverage_share), 3)
            results[label] = row
        return results
    finally:
        server.stop()


def bench_uncompiled(repeats: int, work: Path) -> Dict[str, Any]:
    """The service in an environment installed the way uv installs (no bytecode), as a user runs it again
    and again: plain pytest (it writes __pycache__ into the environment and the project on its first run),
    async-test run (bytecode under its cache: runner/bytecode.py) and async-test run with bytecode off (what
    every run was before: PYTHONDONTWRITEBYTECODE, so every import compiled from source each time). Each
    command has its own copy of the environment, so one's bytecode never serves another. Rounds after the
    first (which compiles for all) alternate the commands."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from service_project import generate

    from async_test_harness.server.postgres import SupervisedServer

    work.mkdir(parents=True, exist_ok=True)
    requirements = ["fastapi", "sqlalchemy[asyncio]", "asyncpg", "pydantic", "httpx", "pytest", "pytest-asyncio",
                    "pytest-cov", "coverage"]
    pythons = {}
    for name in ("plain", "ours", "off"):
        venv = work / f"venv-{name}"
        subprocess.run(["uv", "venv", "-q", "--python", PYTHON, str(venv)], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *requirements,
                        "-e", str(ROOT / "harness")], check=True)
        pythons[name] = str(venv / "bin" / "python")
    server = SupervisedServer()
    info = server.start()
    url = f"postgresql://{info.user}:{info.password}@{info.host}:{info.port}/postgres"
    try:
        project = generate(work / "service", unit=RUN_UNIT, integration=RUN_INTEGRATION)
        env = {k: v for k, v in clean_env(ASYNC_TEST_DATABASE_URL=url, XDG_CACHE_HOME=str(work / "xdg")).items()
               if k != "PYTHONDONTWRITEBYTECODE"}

        def ours(python: str, results: str) -> List[str]:
            return [python, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                    str(work / results), "--", "-p", "no:randomly"]

        commands = {"plain pytest --cov": ([pythons["plain"], "-m", "pytest", "-q", "-p", "no:randomly",
                                            "--cov=src/app"], env),
                    "async-test run": (ours(pythons["ours"], "results-ours"), env),
                    "async-test run, bytecode off": (ours(pythons["off"], "results-off"),
                                                     dict(env, ASYNC_TEST_BYTECODE_CACHE="off"))}
        first = {name: wall(cmd, project, e) for name, (cmd, e) in commands.items()}
        times: Dict[str, List[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_no in range(repeats):
            for name in names[round_no % len(names):] + names[:round_no % len(names)]:
                cmd, e = commands[name]
                times[name].append(wall(cmd, project, e))
        row: Dict[str, Any] = {name: stats(samples) for name, samples in times.items()}
        row["first run"] = {name: round(seconds, 3) for name, seconds in first.items()}
        base = times["plain pytest --cov"]
        for name in names[1:]:
            row[f"ratio, {name}"] = round(statistics.median([m / b for m, b in zip(times[name], base)]), 3)
        return row
    finally:
        server.stop()


def ca_args() -> List[str]:
    ca = "/etc/ssl/certs/ca-certificates.crt"
    return ["-v", f"{ca}:/etc/ssl/certs/host-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt"] \
        if os.path.exists(ca) else []


# ----------------------------------------------------------------------------- report


def targets(r: Dict[str, Any]) -> List[List[str]]:
    rows = []

    def row(what: str, target: str, measured: Optional[float], unit: str, met: Optional[bool]) -> None:
        shown = "-" if measured is None else f"{measured:.3f} {unit}".strip()
        rows.append([what, target, shown, "-" if met is None else ("met" if met else "not met")])

    ready = r.get("ready", {}).get("pre-initialised cluster (harness, image)", {})
    row("PostgreSQL ready from a pre-initialised cluster", "≤ 0.5 s", ready.get("median"), "s",
        None if not ready else ready["median"] <= 0.5)
    iso = r.get("isolation", {})
    mine = iso.get("async_db_session, harness defaults (session loop)", {})
    hand = iso.get("hand-written fixture (new engine + create_all per test)", {})
    func = iso.get(FUNCTION_LOOPS, {})
    shared = iso.get(SHARED_SESSION, {})
    row("async_db_session overhead, harness defaults", "≤ 0.75 ms", mine.get("overhead_ms"), "ms",
        None if not mine else mine["overhead_ms"] <= 0.75)
    if mine and hand:
        ratio = hand["overhead_ms"] / max(mine["overhead_ms"], 1e-6)
        row("cheaper than the hand-written fixture", "≥ 20×", ratio, "×", ratio >= 20)
    if mine and shared:
        row("(info) async_db_session over the same query without isolation", "-",
            round(mine["overhead_ms"] - shared["overhead_ms"], 3), "ms", None)
    row("async_db_session overhead, function-scoped loops", "≤ 5 ms", func.get("overhead_ms"), "ms",
        None if not func else func["overhead_ms"] <= 5)
    unit = r.get("unit_pass", {})
    for label in ("without coverage", "with coverage"):
        if label in unit:
            row(f"unit pass vs plain pytest, {label}", "≤ 1.10×", unit[label]["ratio"], "×", unit[label]["ratio"] <= 1.10)
    run = r.get("run", {})
    for label, what in (("service", "a service"), ("no unit tests", "a suite with no unit tests")):
        row_ = run.get(label, {})
        ratio = row_.get("ratio, async-test run")
        if ratio is not None:
            row(f"async-test run vs plain pytest --cov (both measuring greenlets), {what}", "≤ 1.10× (stretch 1.05×)",
                ratio, "×", ratio <= 1.10)
        if label == "service" and "coverage phase share" in row_:
            share = 100 * row_["coverage phase share"]
            row("coverage phase, share of async-test run (service)", "< 10 %", share, "%", share < 10)
        if label == "no unit tests":
            unit_phase = row_.get("phases of async-test run", {}).get("unit_pass", {}).get("median")
            if unit_phase is not None:
                row("unit pass of a suite with no unit tests", "< 0.5 s", unit_phase, "s", unit_phase < 0.5)
        old = row_.get("ratio, async-test run --separate-passes")
        if old is not None:
            row(f"(info) the same with --separate-passes (two processes), {what}", "-", old, "×", None)
        thread_only = row_.get("ratio, plain pytest --cov, thread only")
        if thread_only:
            row(f"(info) async-test run vs plain pytest --cov measuring threads only (no greenlets), {what}", "-",
                round(ratio / thread_only, 3) if ratio is not None else None, "×", None)
    unc = r.get("uncompiled", {})
    if "ratio, async-test run" in unc:
        ratio = unc["ratio, async-test run"]
        row("async-test run vs plain pytest --cov, service in a venv without bytecode (uv), repeated runs",
            "≤ 1.10×", ratio, "×", ratio <= 1.10)
        row("(info) the same with bytecode off (every run before session 7)", "-",
            unc.get("ratio, async-test run, bytecode off"), "×", None)
    xd = r.get("xdist", {})
    if "speedup" in xd:
        row(f"xdist, 2 workers vs 1, DB-heavy suite ({xd['n']} tests)", "≥ 1.6×", xd["speedup"], "×",
            xd["speedup"] >= 1.6)
    if "per-test scaling" in xd:
        row("(info) xdist per-test scaling (fixed start-up cost taken out)", "-", xd["per-test scaling"], "×", None)
    small = xd.get(f"speedup, {XDIST_SMALL}-test suite")
    if small is not None:
        row(f"(info) xdist speedup, {XDIST_SMALL}-test suite", "-", small, "×", None)
    return rows


def markdown(r: Dict[str, Any]) -> str:
    out = ["# Benchmark results", "", f"Command: `{r['command']}` on {r['date']}", "",
           "## Machine", ""] + [f"- {k}: {v}" for k, v in r["machine"].items()]
    out += ["", "## Targets", "", "| what | target | measured (median) | |", "|---|---|---|---|"]
    out += [f"| {' | '.join(row)} |" for row in targets(r)]
    if r.get("sections_from_earlier_run"):
        out += ["", f"Sections kept from an earlier run: {', '.join(r['sections_from_earlier_run'])}."]
    for section, data in r.items():
        if section in ("machine", "command", "date", "quick", "sections_from_earlier_run"):
            continue
        out += ["", f"## {section}", "", "| measurement | median | min | max | runs | other |", "|---|---:|---:|---:|---:|---|"]
        out += list(_rows(data))
    return "\n".join(out) + "\n"


def _rows(data: Any, prefix: str = "") -> Any:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "median" in value:
            extra = ", ".join(f"{k} {v}" for k, v in value.items() if k not in ("median", "min", "max", "n"))
            yield f"| {name} | {value['median']} | {value['min']} | {value['max']} | {value['n']} | {extra} |"
        elif isinstance(value, dict):
            yield from _rows(value, f"{name} / ")
        else:
            yield f"| {name} | {value} | | | | |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N and few repeats (CI)")
    parser.add_argument("--only", action="append", choices=["ready", "isolation", "unit_pass", "xdist", "run", "uncompiled",
                                                              "image"])
    parser.add_argument("--image", default=os.environ.get("ASYNC_TEST_IMAGE"), help="image for the docker run figures")
    args = parser.parse_args()
    repeats = 2 if args.quick else 3
    n = 100 if args.quick else 500
    chosen = args.only or ["ready", "isolation", "unit_pass", "xdist", "run", "uncompiled", "image"]
    name_out = "quick" if args.quick else "latest"
    results: Dict[str, Any] = {}
    previous = RESULTS / f"{name_out}.json"
    if args.only and previous.exists():  # re-running some sections keeps the others' figures
        results = json.loads(previous.read_text())
        results["sections_from_earlier_run"] = sorted(set(results) - set(chosen) - {
            "command", "date", "quick", "machine", "sections_from_earlier_run"})
    results.update({"command": " ".join(["python benchmarks/run.py", *sys.argv[1:]]),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
                    "machine": machine()})
    work = Path(tempfile.mkdtemp(prefix="async-test-bench-"))
    work.chmod(0o755)  # as root the server runs as postgres and must reach the cluster in here
    failed = []
    try:
        for name in chosen:
            began = time.perf_counter()
            print(f"benchmark {name} ...", flush=True)
            try:
                run_section(name, args, n, repeats, work, results)
            except Exception as exc:  # recorded, and the command fails at the end
                results[name] = {"error": f"{type(exc).__name__}: {str(exc)[-1500:]}"}
                failed.append(name)
            save(results, name_out)  # after every section: a late failure keeps the earlier figures
            print(f"  done in {time.perf_counter() - began:.1f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(results))
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def save(results: Dict[str, Any], name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(results))


def run_section(name: str, args: argparse.Namespace, n: int, repeats: int, work: Path,
                results: Dict[str, Any]) -> None:
    if name == "ready":
        results["ready"] = bench_ready(repeats * 2, work / "ready")
    elif name == "isolation":
        results["isolation"] = bench_isolation(n, repeats if args.quick else 7, work / "isolation")
    elif name == "unit_pass":
        results["unit_pass"] = bench_unit_pass(repeats if args.quick else 7, work / "unit")
    elif name == "xdist":
        results["xdist"] = bench_xdist(60 if args.quick else 1000, repeats, work / "xdist")
    elif name == "run":
        results["run"] = (bench_run(repeats, work / "run", unit=40, integration=40) if args.quick
                          else bench_run(5, work / "run"))
    elif name == "uncompiled":
        results["uncompiled"] = bench_uncompiled(2 if args.quick else 5, work / "uncompiled")
    elif name == "image":
        if not args.image:
            results["image"] = {"skipped": "no image: pass --image or set ASYNC_TEST_IMAGE"}
        else:
            results["image"] = bench_image(args.image, 1 if args.quick else 3, work / "image")


if __name__ == "__main__":
    sys.exit(main())
