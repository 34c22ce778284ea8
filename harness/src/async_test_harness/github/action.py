"""The composite action's steps, so action.yml stays thin glue.

``build``   builds (or reuses) the image.
``test``    runs the tests in the container (one shard of them with the ``shard`` input). The
            container gets the workspace, a uv cache directory and the variables the workflow
            chose, nothing else: no token, no GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STEP_SUMMARY /
            RUNNER_TEMP. Its output is shown
            between stop-commands fences with a fresh token, so the project's tests cannot issue
            workflow commands. It is read as it comes (live), and each phase the runner announces
            (phases.py) becomes a collapsible group: see FencedLog. The exit code becomes a step
            output; a later step fails the job.
``prepare-upload`` keeps only regular files in the results folder before an upload (artifact.py).
``badge``   writes badge.svg (badge.py) into the results folder, before it is uploaded.
``combine`` (``mode: report``) merges the shards' results folders, downloaded by action.yml, with
            ``async-test combine`` in the image (the runner has no coverage.py), so the report
            step annotates, summarises and comments once for the whole matrix (matrix.py).
Inputs arrive as ``INPUT_*`` variables set in action.yml; only the standard library is used, so
the runner needs no installation.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import IO, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

from .. import phases
from . import affected_select
from .commands import command, write_outputs
from .gitconfig import cleanup, git_mounts
from .image_choice import ChoiceError, ImageChoice, choose
from .matrix import MatrixError, combine_command, plan

FORBIDDEN_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SETTINGS_INPUTS = {  # action input -> harness variable
    "metadata": "ASYNC_TEST_METADATA", "alembic-ini": "ASYNC_TEST_ALEMBIC_INI",
    "schema-sql": "ASYNC_TEST_SCHEMA_SQL", "extensions": "ASYNC_TEST_EXTENSIONS",
    "timeout": "ASYNC_TEST_TIMEOUT", "install": "ASYNC_TEST_INSTALL",
    "install-after": "ASYNC_TEST_INSTALL_AFTER", "install-project": "ASYNC_TEST_INSTALL_PROJECT",
    "requirements": "ASYNC_TEST_REQUIREMENTS",
    "extras": "ASYNC_TEST_EXTRAS", "groups": "ASYNC_TEST_GROUPS", "postgres-version": "ASYNC_TEST_PG_VERSION",
    "rerun-failures": "ASYNC_TEST_RERUN_FAILURES",  # issue 25: flaky tests
}


class ActionError(Exception):
    """A bad input; printed as an error annotation."""


def inp(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get("INPUT_" + name.upper().replace("-", "_"), default).strip() or default


def parse_env_lines(text: str) -> Dict[str, str]:
    """The ``env`` input: NAME=VALUE per line, for the tests (never the runner's own variables)."""
    result: Dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not NAME.fullmatch(name):
            raise ActionError(f"env line {number} is not NAME=VALUE: {line[:80]!r}")
        if name.startswith(FORBIDDEN_PREFIXES):
            raise ActionError(f"env line {number}: {name} is the runner's; it is never passed to the tests")
        result[name] = value
    return result


HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def parse_hosts(text: str) -> List[str]:
    """The ``hosts`` input: names mapped to the container's loopback, where the server listens.

    Suites written for a ``services: postgres`` container or a compose file switch their host to
    that service's name in CI; mapping the name to 127.0.0.1 lets them run unchanged.
    """
    names = [name for name in re.split(r"[\s,]+", text) if name]
    for name in names:
        if not HOST_NAME.fullmatch(name):
            raise ActionError(f"hosts: {name[:80]!r} is not a host name (letters, digits, dots and dashes)")
    return names


def docker_command(env: Mapping[str, str], image: str, cache_dir: str) -> List[str]:
    workspace = env.get("GITHUB_WORKSPACE") or os.getcwd()
    cmd = ["docker", "run", "--rm", "--shm-size=1g", "-v", f"{workspace}:/workspace", "-v", f"{cache_dir}:/cache"]
    cmd += git_mounts(Path(workspace), env)  # .git read-only, its configs without the checkout's token
    ca = inp(env, "ca-bundle")
    if ca:
        cmd += ["-v", f"{ca}:/etc/ssl/certs/async-test-ca.crt:ro", "-e",
                "SSL_CERT_FILE=/etc/ssl/certs/async-test-ca.crt"]
    for host in parse_hosts(inp(env, "hosts")):
        cmd += ["--add-host", f"{host}:127.0.0.1"]
    cmd += colour_variables(env)
    # Paths in the runner's messages as the user knows them (its results folder, not /workspace/...).
    cmd += ["-e", f"ASYNC_TEST_HOST_WORKSPACE={workspace}"]
    variables = {var: inp(env, name) for name, var in SETTINGS_INPUTS.items() if inp(env, name)}
    variables.update(parse_env_lines(env.get("INPUT_ENV", "")))
    for name, value in variables.items():
        cmd += ["-e", f"{name}={value}"]
    cmd.append(image)
    cmd.append(inp(env, "working-directory", "."))

    def split(name: str, value: str) -> List[str]:
        """An ARGS input split as a shell would; an unbalanced quote is an input error, not a traceback."""
        import shlex

        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ActionError(f"{name}: {value!r} is not valid shell syntax ({exc}); balance the quotes as in a "
                              f"shell, e.g. {name}: -k \"it's\" or {name}: -k 'not slow'") from None

    if inp(env, "results-dir"):
        cmd += ["--results-dir", "/workspace/" + results_dir(env)]
    for name in ("fail-under", "fail-under-unit", "fail-under-integration", "unit-args", "integration-args"):
        value = inp(env, name)
        if value:
            if name.endswith("-args"):
                split(name, value)  # async-test splits it again in the container; refuse it here, early
            cmd += [f"--{name}", value]
    try:  # select: affected (issue 26): a pull request runs what its change affects, a push records the map
        cmd += affected_select.arguments(env)
    except affected_select.SelectError as exc:
        raise ActionError(str(exc)) from None
    job = plan(env)
    if job.shard is not None:
        cmd += ["--shard", str(job.shard)]
    elif job.results_artifact:
        cmd.append("--html")  # uploaded with the folder
    pytest_args = inp(env, "pytest-args")
    if pytest_args:
        cmd += ["--", *split("pytest-args", pytest_args)]
    return cmd


def results_dir(env: Mapping[str, str]) -> str:
    """The results folder relative to the repository: the ``results-dir`` input, else
    WORKING-DIRECTORY/.async-test (what the run writes by default)."""
    results = inp(env, "results-dir")
    if not results:
        project = [p for p in inp(env, "working-directory", ".").replace("\\", "/").split("/") if p not in ("", ".")]
        return "/".join([*project, ".async-test"])
    # The container sees only the repository (at /workspace), and the report step reads
    # $GITHUB_WORKSPACE/<results-dir>: an absolute path, or one leaving the repository, was written
    # inside the container and lost with it.
    parts = [p for p in results.replace("\\", "/").split("/") if p not in ("", ".")]
    if results.startswith(("/", "~")) or re.match(r"[A-Za-z]:", results):
        raise ActionError(f"results-dir: {results!r} is absolute, but the tests run in a container that sees "
                          "only the repository, so results written there are lost; give a path relative to "
                          "the repository, e.g. results-dir: backend/test-results")
    if ".." in parts:
        raise ActionError(f"results-dir: {results!r} leaves the repository, which is all the test container "
                          "sees; give a path inside it, e.g. results-dir: backend/test-results")
    return "/".join(parts)


def image_tag(action_path: Path, base_image: str, build_args: Sequence[str] = ()) -> str:
    digest = hashlib.sha256(base_image.encode())
    for arg in build_args:
        digest.update(b"\0" + arg.encode())
    for path in sorted([action_path / "Dockerfile", action_path / "entrypoint.sh",
                        *(action_path / "harness").rglob("*.py"), action_path / "harness" / "pyproject.toml"]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(action_path)).encode())
            digest.update(path.read_bytes())
    return f"async-test-action:{digest.hexdigest()[:16]}"


def image_for(env: Mapping[str, str]) -> Tuple[ImageChoice, str]:
    """The image these inputs and the project ask for, and its tag (a hash of everything that builds it)."""
    project = Path(env.get("GITHUB_WORKSPACE") or ".") / inp(env, "working-directory", ".")
    tools = inp(env, "build-tools", "false").lower()
    if tools not in ("true", "false"):
        raise ChoiceError(f"build-tools: {tools!r} is not true or false")
    choice = choose(project, python=inp(env, "python-version"), postgres=inp(env, "postgres-version"),
                    build_tools=tools == "true", base=inp(env, "base-image"))
    return choice, image_tag(Path(env.get("GITHUB_ACTION_PATH", ".")), choice.base, choice.build_args[1:])


def tag_step(env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """The cache key of the image: a hash of the action's build inputs; a bad choice, mode or shard
    fails here, first, before minutes of building. Also names the matrix's artifacts (matrix.py)."""
    try:
        matrix = plan(env)
        results = results_dir(env)
    except (MatrixError, ActionError) as exc:
        out.write(command("error", str(exc), {"title": "async-test: input"}) + "\n")
        return 2
    try:
        choice, tag = image_for(env)
    except ChoiceError as exc:
        out.write(command("error", str(exc), {"title": "async-test: image"}) + "\n")
        return 2
    out.write(f"test image: {choice.describe()}\n")
    write_outputs(env.get("GITHUB_OUTPUT"), {"key": tag.split(":", 1)[1], "results": results,
                                                **matrix.outputs()})
    return 0


def published_image(env: Mapping[str, str], choice: ImageChoice) -> Optional[str]:
    """The image the release workflow published for this version of the action and this choice, if any.

    Only for an action used from its repository (``uses: owner/repo@ref``: a local ``uses: ./`` has no
    release) and the published combinations: a Python of the table, PostgreSQL 15/17/18, no build tools
    and no base-image input. The version is the harness's, from the action's own files.
    """
    repository = env.get("ASYNC_TEST_ACTION_REPOSITORY", "").strip()
    if not repository or choice.build_tools or not choice.python or inp(env, "base-image"):
        return None
    init = Path(env.get("GITHUB_ACTION_PATH", ".")) / "harness" / "src" / "async_test_harness" / "__init__.py"
    try:
        found = re.search(r'^__version__ = "([^"]+)"', init.read_text(encoding="utf-8"), re.MULTILINE)
    except OSError:
        return None
    if not found or not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        return None
    return f"ghcr.io/{repository.lower()}:{found.group(1)}-py{choice.python}-pg{choice.postgres}"


def build_image(env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """Reuse the image: local, else the published one of this version, else the cached archive; else build it
    (and archive it for next time)."""
    prebuilt = inp(env, "image")
    if prebuilt:
        write_outputs(env.get("GITHUB_OUTPUT"), {"image": prebuilt})
        return 0
    action_path = Path(env.get("GITHUB_ACTION_PATH", "."))
    choice, tag = image_for(env)
    archive = Path(os.path.expanduser(env["ASYNC_TEST_IMAGE_ARCHIVE"])) if env.get("ASYNC_TEST_IMAGE_ARCHIVE") else None
    exists = subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0
    published = published_image(env, choice)
    if exists:
        out.write(f"using {tag}: built earlier on this runner from the same action files\n")
    elif published is not None:
        out.write(f"pulling the published image {published}\n")
        out.flush()
        pulled = subprocess.run(["docker", "pull", "--quiet", published], capture_output=True, text=True)
        if pulled.returncode == 0:
            exists = subprocess.run(["docker", "tag", published, tag], capture_output=True).returncode == 0
            archive = None  # nothing to keep: the registry has it
        if not exists:
            reason = (pulled.stderr or pulled.stdout).strip().splitlines()[-1:] or ["no output"]
            out.write(f"no published image to use ({reason[0][:200]}); building it here\n")
    if not exists and archive is not None and archive.is_file():
        loaded = subprocess.run(["docker", "load", "-i", str(archive)], capture_output=True, text=True)
        exists = loaded.returncode == 0 and subprocess.run(["docker", "image", "inspect", tag],
                                                           capture_output=True).returncode == 0
        out.write(f"loaded {tag} from the cache\n" if exists else "the cached image did not load; rebuilding\n")
    if not exists:
        cmd = ["docker", "build", "-t", tag]
        for arg in choice.build_args:
            cmd += ["--build-arg", arg]
        ca = inp(env, "ca-bundle")
        if ca:
            cmd += ["--secret", f"id=ca,src={ca}", "--network", "host"]
        cmd.append(str(action_path))
        out.write(f"building {tag} from {choice.base}: {choice.describe()}\n")
        out.flush()
        done = subprocess.run(cmd, env=dict(os.environ, DOCKER_BUILDKIT="1"))
        if done.returncode != 0:
            out.write(command("error", f"docker build failed (exit {done.returncode}); see the log above",
                              {"title": "async-test: image build"}) + "\n")
            return done.returncode
        if archive is not None:
            archive.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["docker", "save", "-o", str(archive), tag], check=False)
    write_outputs(env.get("GITHUB_OUTPUT"), {"image": tag})
    return 0


class FencedLog:
    """The container's output in the step's log: always inside a stop-commands fence, one
    collapsible group per phase.

    GitHub reads ``::group::`` only outside a fence, so at a phase line (phases.phase_of) the
    fence is closed, the previous group ended, a group opened with the title from phases.GROUPS
    (never text from the line: the tests can print a phase line too, and then choose at most which
    of our titles comes next) and a new fence opened with a new token, before the phase line is
    shown inside it. A fence is only ever closed at the start of a line, so ``::TOKEN::`` is a
    line of its own even after output without a final newline. The tests never see a token: the
    log is written by this process, the container only writes to our pipe.
    """

    HOLD_LIMIT = 4096  # a held partial line longer than this cannot be a phase line

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.token: Optional[str] = None
        self.grouped = False
        self.phase: Optional[str] = None  # the last phase announced
        self.at_line_start = True
        self.held = ""  # the start of a line that may still turn out to be a phase line
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _emit(self, text: str) -> None:
        try:
            self.out.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self.out, "encoding", None) or "ascii"
            self.out.write(text.encode(encoding, "backslashreplace").decode(encoding))

    def _open_fence(self) -> None:
        self.token = secrets.token_hex(16)
        self._emit(f"::stop-commands::{self.token}\n")

    def _close_fence(self) -> None:
        if self.token is None:
            return
        if not self.at_line_start:
            self._emit("\n")
            self.at_line_start = True
        self._emit(f"::{self.token}::\n")
        self.token = None

    def start(self) -> None:
        self._open_fence()
        self.out.flush()

    def _switch(self, phase: str) -> None:
        self._close_fence()
        if self.grouped:
            self._emit("::endgroup::\n")
            self.grouped = False
        title = phases.GROUPS[phase]
        if title is not None:
            self._emit(command("group", title) + "\n")
            self.grouped = True
        self.phase = phase
        self._open_fence()

    def _line(self, text: str) -> None:
        """One piece of output: a whole line (ends with LF) or the start of one."""
        if self.at_line_start and text.endswith("\n"):
            phase = phases.phase_of(text)
            if phase is not None:
                self._switch(phase)
        self._emit(text)
        self.at_line_start = text.endswith("\n")

    def feed(self, data: bytes) -> None:
        """Output as it arrives: whole lines go out at once, and so does a partial one (pytest's
        progress dots) unless it starts like a phase line, which waits for its end."""
        *lines, last = (self.held + self._decoder.decode(data)).split("\n")  # LF only: CR is part of a line
        self.held = ""
        for whole in lines:
            self._line(whole + "\n")
        if last:
            if self.at_line_start and len(last) < self.HOLD_LIMIT and phases.may_become_phase(last):
                self.held = last
            else:
                self._line(last)
        self.out.flush()

    def close(self) -> None:
        """The end of the output: what is held goes out, the fence closes, the group ends."""
        rest = self.held + self._decoder.decode(b"", final=True)
        self.held = ""
        if rest:
            self._line(rest)
        self._close_fence()
        if self.grouped:
            self._emit("::endgroup::\n")
            self.grouped = False
        self.out.flush()


def pump(source: IO[bytes], log: FencedLog) -> None:
    """Copy the container's output into the log as it comes (read1: whatever is there, no waiting
    for a full buffer), so a long pass shows its progress live."""
    read = getattr(source, "read1", None) or source.read
    while True:
        data = read(65536)
        if not data:
            return
        log.feed(data)


def colour_variables(env: Mapping[str, str]) -> List[str]:
    """Colour in GitHub's log, which shows ANSI colours although the container writes to a pipe.

    ASYNC_TEST_COLOR, not FORCE_COLOR: the runner colours its lines and passes pytest --color=yes,
    while the tests' own environment stays as it was (a FORCE_COLOR there changes what rich or
    click print, and so what the tests assert). Given before the env input's variables, so
    ``ASYNC_TEST_COLOR=no`` or ``NO_COLOR=1`` there switches it off.
    """
    if env.get("GITHUB_ACTIONS") != "true":
        return []
    return ["-e", "ASYNC_TEST_COLOR=yes"]


def fenced_run(cmd: Sequence[str], log: FencedLog) -> int:
    """Run a container with its output in ``log``; its exit code. Only docker's own variables pass
    to the docker client: never the token, never the runner's files."""
    log.start()
    code = -1
    try:
        # stderr too through the pipe: text written past the fence (between two phases) could be a command.
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={
            k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG")})
        assert proc.stdout is not None
        with proc.stdout:
            pump(proc.stdout, log)
        code = proc.wait()
    finally:
        log.close()
    return code


def badge_step(env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """badge.svg in the results folder (uploaded with it) and the outputs badge-color, badge-message
    and coverage-badge. The colour is the combined coverage's (badge.py). Before the upload, so the
    badge is in the artifact; a summary.json that does not read is left to the report step to say."""
    from ..summary.model import Summary
    from .artifact import through_link, write_file
    from .badge import coverage_badge

    try:
        workspace, relative = Path(env.get("GITHUB_WORKSPACE") or "."), results_dir(env)
        if through_link(workspace, relative) is not None:
            return 0  # the upload step's check says so; nothing is written through a link the tests made
        folder = workspace / relative
        summary = Summary.read(folder / "summary.json")
    except Exception:
        return 0
    combined = summary.coverage.combined
    text, colour, message = coverage_badge(combined.percent if combined else None)
    path = write_file(folder, "badge.svg", text)
    write_outputs(env.get("GITHUB_OUTPUT"), {"badge-color": colour, "badge-message": message,
                                             "coverage-badge": str(path)})
    return 0


def prepare_upload_step(env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """Before an upload: only the results folder's regular files leave the runner (artifact.py).
    Output ``upload`` true or false; a refusal is a warning annotation, the tests' verdict stands."""
    from .artifact import NotUploadable, prepare

    try:
        kept, removed = prepare(Path(env.get("GITHUB_WORKSPACE") or "."), results_dir(env))
    except (NotUploadable, ActionError) as exc:
        out.write(command("warning", str(exc), {"title": "async-test: artifact"}) + "\n")
        write_outputs(env.get("GITHUB_OUTPUT"), {"upload": "false"})
        return 0
    if removed:
        out.write(command("warning", f"{removed} symbolic link(s) or special file(s) in the results folder were "
                          "removed before the upload: the tests wrote them, and the upload would have followed "
                          "them to the runner's files.", {"title": "async-test: artifact"}) + "\n")
    out.write(f"uploading {kept} files from {results_dir(env)}\n")
    write_outputs(env.get("GITHUB_OUTPUT"), {"upload": "true"})
    return 0


def combine_step(env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """``mode: report``: the shards' downloaded results folders merged into the results folder by
    ``async-test combine`` in the image; its exit code becomes the step's ``exit-code`` output
    (1 when a test failed in any shard, 4 when a combined threshold is missed)."""
    try:
        cmd = combine_command(env, env.get("ASYNC_TEST_IMAGE", ""), results_dir(env))
    except (MatrixError, ActionError) as exc:
        cleanup()
        out.write(command("error", str(exc), {"title": "async-test: report"}) + "\n")
        write_outputs(env.get("GITHUB_OUTPUT"), {"exit-code": "2"})
        return 0
    try:
        code = fenced_run(cmd, FencedLog(out))
    finally:
        cleanup()  # the scrubbed git configs, once the container is gone
    write_outputs(env.get("GITHUB_OUTPUT"), {"exit-code": str(code)})
    return 0


def run_tests(env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    image = env.get("ASYNC_TEST_IMAGE", "")
    try:
        cache = Path(os.path.expanduser("~/.cache/async-test/uv"))
        cache.mkdir(parents=True, exist_ok=True)
        cmd = docker_command(env, image, str(cache))
    except (ActionError, MatrixError) as exc:
        cleanup()
        out.write(command("error", str(exc), {"title": "async-test: input"}) + "\n")
        write_outputs(env.get("GITHUB_OUTPUT"), {"exit-code": "2"})
        return 0
    log = FencedLog(out)
    try:
        code = fenced_run(cmd, log)
    finally:
        cleanup()  # the scrubbed git configs, once the container is gone
    if code not in (0, 1) and log.phase is not None and phases.GROUPS.get(log.phase):
        # Stopped before the results table: say where, outside every group, so nobody has to guess.
        out.write(f"async-test exited {code} during \"{phases.GROUPS[log.phase]}\": expand that group above "
                  "for its output\n")
        out.flush()
    write_outputs(env.get("GITHUB_OUTPUT"), {"exit-code": str(code)})
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    steps = {"tag": tag_step, "build": build_image, "test": run_tests, "combine": combine_step, "badge": badge_step,
             "prepare-upload": prepare_upload_step}
    if len(args) != 1 or args[0] not in steps:
        print("usage: python -m async_test_harness.github.action tag|build|test|combine|badge|prepare-upload",
              file=sys.stderr)
        return 2
    return steps[args[0]](dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
