"""The ``async-test`` command.

``async-test settings`` prints the effective configuration of a project;
``async-test postgres`` starts a throwaway server for local work and prints
the variables to use it, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple

from . import __version__
from .masking import mask_text
from .server.address import environment_for
from .settings import OPTIONS, Settings, SettingsError, from_environment

# What `async-test --help` says first (the module docstring is reStructuredText, for developers).
DESCRIPTION = ("Run a Python async service's tests against a throwaway PostgreSQL: unit tests with the database "
               "blocked, integration tests on a fresh database, one report.")

if TYPE_CHECKING:
    from .sharding import Shard

# The server package (asyncio, asyncpg) is imported by the commands that use
# them: `async-test run --only unit` starts no server, and its start-up is part of every unit pass.

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130
HTML_TESTS_HELP = ("keep the test files (conftest.py, test_*.py, *_test.py, tests/ and test/ folders) in the HTML "
                   "report and its total; by default they are left out")


def _settings(project: str) -> Tuple[Path, Settings]:
    root = Path(project).resolve()
    if not root.is_dir():
        raise SettingsError(f"{project} is not a directory. Give the project's root (where pyproject.toml is).")
    return root, from_environment(os.environ, root)


def cmd_html(args: argparse.Namespace) -> int:
    """The coverage HTML report of a finished run, from its results folder."""
    import json

    from .runner.coverage_reports import write_html
    from .runner.project import ProjectError, find_project

    results = Path(args.results_dir).resolve() if args.results_dir else _default_results()
    summary = results / "summary.json"
    try:
        root = json.loads(summary.read_text(encoding="utf-8"))["project"]["root"]
        project = find_project(root, None)
        index = write_html(results, project, include_tests=args.include_tests)
    except (OSError, ValueError, KeyError, TypeError, ProjectError) as exc:
        raise ArgumentsError(
            f"cannot write the HTML report from {results}: {exc}. Give the results folder of a finished "
            "async-test run with coverage (default .async-test), e.g. async-test html path/to/.async-test"
        ) from None
    print(index)
    return 0


def _default_results() -> Path:
    """The results folder ``async-test run`` wrote from here: ``.async-test`` of the project it found
    (a ``backend/`` under the repository root included), else ``./.async-test``."""
    from .runner.project import ProjectError, find_project

    here = Path(".async-test").resolve()
    if (here / "summary.json").is_file():
        return here
    try:
        return find_project(".").root / ".async-test"
    except ProjectError:
        return here


def cmd_settings(args: argparse.Namespace) -> int:
    _, settings = _settings(args.project)
    for opt in OPTIONS:
        value = settings.value(opt.name)
        shown = mask_text(str(value), []) if value is not None else "-"
        print(f"{opt.name:<20} {shown:<40} {settings.sources[opt.name]}")
    return EXIT_OK


def cmd_postgres(args: argparse.Namespace) -> int:
    from .server.provision import clone_for, finish_provision, start_provision

    root, settings = _settings(args.project)
    provision, server = start_provision(settings, root)
    try:
        address = clone_for(provision, "dev")
        env = environment_for(address, settings.env_templates())
        print(f"# PostgreSQL {provision.version} ({provision.source}); stops when this command ends (Ctrl-C)")
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    finally:
        finish_provision(provision, server)
    return EXIT_OK


def cmd_init_cluster(args: argparse.Namespace) -> int:
    from .server.postgres import find_binaries, init_cluster

    binaries = find_binaries(args.source, args.bin_dir)
    init_cluster(Path(args.directory), binaries)
    print(f"initialised a PostgreSQL {binaries.version} cluster in {args.directory}; "
          f"use it with ASYNC_TEST_PG_CLUSTER={args.directory}")
    return EXIT_OK


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a percentage like 80 or 92.5") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 100")
    return value


def _phase(text: str) -> tuple[str, float]:
    name, _, seconds = text.partition("=")
    return name, float(seconds or 0)


class ArgumentsError(Exception):
    """An option's value is unusable; the message names the option and the fix (exit 2)."""


def split_arguments(flag: str, text: Optional[str]) -> List[str]:
    """An ARGS option split as a shell would; an unbalanced quote (``--unit-args "it's"``) is a usage error.

    shlex's ValueError used to escape as a traceback.
    """
    try:
        return shlex.split(text or "")
    except ValueError as exc:
        raise ArgumentsError(
            f"{flag} {text!r} is not valid shell syntax ({exc}): it is split into pytest arguments as a shell "
            f"would. Balance the quotes, e.g. {flag} \"-k 'not slow'\", or escape a lone one: {flag} \"-k it\\'s\"."
        ) from None


def _shard(text: Optional[str]) -> Optional[Shard]:
    """--shard K/N, or a usage error (exit 2) that says what K/N must be."""
    from .sharding import ShardError, optional_shard

    try:
        return optional_shard(text)
    except ShardError as exc:
        raise ArgumentsError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from .runner.passes import Run, RunOptions

    if args.shard_split_modules and not args.shard:
        raise ArgumentsError("--shard-split-modules only changes how --shard K/N splits the tests; give --shard too.")

    if args.affected_missing_ok and args.affected is None:
        raise ArgumentsError("--affected-missing-ok only changes what --affected BASE_RESULTS does when BASE_RESULTS "
                             "is missing; give --affected too.")
    if args.affected is not None:
        from .runner.affected_run import base_problem

        problem = base_problem(Path(args.affected), args.affected_missing_ok)
        if problem is not None:
            raise ArgumentsError(problem)

    options = RunOptions(
        project_dir=args.project, results_dir=args.results_dir, only=args.only, parallel=args.parallel,
        separate_passes=args.separate_passes, html=args.html, html_include_tests=args.html_include_tests,
        coverage=not args.no_coverage, cov_source=args.cov_source or [],
        fail_under={"unit": args.fail_under_unit, "integration": args.fail_under_integration,
                    "combined": args.fail_under},
        pass_args={"unit": split_arguments("--unit-args", args.unit_args),
                   "integration": split_arguments("--integration-args", args.integration_args)},
        pytest_args=args.pytest_args, python=args.python or sys.executable,
        recorded_phases=dict(_phase(p) for p in args.record_phase or []), install_source=args.install_source,
        shard=_shard(args.shard), durations_file=args.durations_file, shard_split_modules=args.shard_split_modules,
        baseline_dir=args.baseline, compare_with=args.compare_with,
        record_map=args.record_map, affected=args.affected,
    )
    return Run(options).execute()


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def cmd_combine(args: argparse.Namespace) -> int:
    from .runner.combine import CombineOptions, combine
    from .runner.combine_inputs import CombineError

    options = CombineOptions(
        output=args.output, inputs=list(args.results_dirs), html=args.html,
        html_include_tests=args.html_include_tests, project=args.project,
        cov_source=args.cov_source or [],
        fail_under={"unit": args.fail_under_unit, "integration": args.fail_under_integration,
                    "combined": args.fail_under},
    )
    try:
        return combine(options)
    except CombineError as exc:
        raise ArgumentsError(str(exc)) from None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # never a traceback: whatever the inputs held, one paragraph and exit 3
        _error(f"combine failed unexpectedly ({type(exc).__name__}: {one_line(str(exc))}); the combined folder "
               f"{args.output} is unchanged. This is a bug in async-test {__version__}, not in your tests: please "
               "report it with this message and the command you ran.")
        return EXIT_INFRA


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="async-test", description=DESCRIPTION,
        epilog="async-test COMMAND --help says more; docs: docs/run.md (run), docs/configuration.md (settings).")
    parser.add_argument("--version", action="version", version=f"async-test {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("settings", help="print the effective configuration and where each value comes from")
    p.add_argument("project", nargs="?", default=".")
    p.set_defaults(func=cmd_settings)
    p = sub.add_parser("html", help="write the coverage HTML report of a finished run (lines marked by the pass "
                                    "that ran them) into its results folder; prints the index's path")
    p.add_argument("results_dir", nargs="?", default=None,
                   help="the run's results folder (default: the .async-test folder async-test run wrote from here)")
    p.add_argument("--include-tests", action="store_true", help=HTML_TESTS_HELP)
    p.set_defaults(func=cmd_html)
    p = sub.add_parser("postgres", help="start a throwaway PostgreSQL with the project's schema; print its variables")
    p.add_argument("project", nargs="?", default=".")
    p.set_defaults(func=cmd_postgres)
    p = sub.add_parser(
        "run", help="run the unit pass and the integration pass with coverage; write the results folder",
        description="Run a project's unit tests (database blocked) and integration tests (on an ephemeral "
                    "PostgreSQL) in one pytest session, with coverage per kind and combined. Arguments after -- "
                    "go to pytest. Harness settings come from the project's config and ASYNC_TEST_* variables.",
        epilog="exit codes: 0 passed, 1 tests failed, 2 usage or configuration error, 3 infrastructure failure, "
               "4 coverage below threshold, 5 no tests collected, 130 interrupted",
    )
    p.add_argument("project", nargs="?", default=".", help="project directory (default: .)")
    p.add_argument("--results-dir", help="where results go (default: PROJECT/.async-test)")
    p.add_argument("--only", choices=["unit", "integration"], help="run one pass only")
    p.add_argument("--parallel", action="store_true", help="run the two passes at the same time")
    p.add_argument("--separate-passes", action="store_true",
                   help="run each pass in a pytest process of its own (slower: the project is imported and "
                        "collected twice); default: one session, in the project's own order")
    p.add_argument("--no-coverage", action="store_true", help="do not measure coverage")
    p.add_argument("--html", action="store_true",
                   help="also write the coverage HTML report (html/ in the results folder; "
                        "`async-test html` writes it after a run)")
    p.add_argument("--html-include-tests", action="store_true", help=HTML_TESTS_HELP)
    p.add_argument("--cov-source", action="append", metavar="PATH",
                   help="what coverage measures (repeatable; default: the coverage config, else src/ or packages)")
    p.add_argument("--fail-under", type=_percent, metavar="PCT", help="minimum combined coverage")
    p.add_argument("--fail-under-unit", type=_percent, metavar="PCT", help="minimum unit-pass coverage")
    p.add_argument("--fail-under-integration", type=_percent, metavar="PCT",
                   help="minimum integration-pass coverage")
    p.add_argument("--unit-args", metavar="ARGS", help="extra pytest arguments for the unit pass (one string)")
    p.add_argument("--integration-args", metavar="ARGS",
                   help="extra pytest arguments for the integration pass, e.g. '-n auto'")
    p.add_argument("--python", help="the interpreter that runs pytest (default: this one)")
    p.add_argument("--shard", metavar="K/N",
                   help="run shard K of N (1 <= K <= N <= 10,000): a deterministic part of both passes, balanced "
                        "by the durations file; every test runs in exactly one shard. Coverage thresholds are not "
                        "checked (async-test combine checks them on the combined results)")
    p.add_argument("--durations-file", metavar="PATH",
                   help="recorded test durations that balance the shards (default: PROJECT/.async-test-durations.json "
                        "if it exists; every run writes durations.json into its results folder)")
    p.add_argument("--shard-split-modules", action="store_true",
                   help="with --shard: assign single tests, not whole modules (only if no module shares a module- or "
                        "class-scoped fixture between its tests)")
    p.add_argument("--record-map", action="store_true",
                   help="record which tests run which functions (testmap.json in the results folder), for a later "
                        "--affected run; costs a coverage context per test (docs/affected.md)")
    p.add_argument("--affected", metavar="BASE_RESULTS",
                   help="run only the tests the changes since BASE_RESULTS's map can affect (plus new, changed and "
                        "base-failing tests); every test, with the reason, when the selection cannot be trusted. "
                        "The coverage of the tests left out is carried forward from the map, and the thresholds are "
                        "checked on it (docs/affected.md). BASE_RESULTS must exist (exit 2), see --affected-missing-ok")
    p.add_argument("--affected-missing-ok", action="store_true",
                   help="with --affected: a BASE_RESULTS that does not exist (or is an empty folder: nothing restored "
                        "yet, as on a CI's first run) runs every test with one line instead of being an error")
    # issue 25: the baseline (baseline/), for later runs to be compared with
    p.add_argument("--baseline", metavar="DIR",
                   help="after the run, store its baseline (coverage per pass and file, each test's outcome, time "
                        "and SQL statements) in DIR, for async-test compare DIR RESULTS_DIR of a later run")
    p.add_argument("--compare-with", metavar="BASE",
                   help="after the run, compare it with the baseline in BASE (or another run's results folder), "
                        "as async-test compare BASE RESULTS_DIR does; the exit code stays the run's")
    p.add_argument("--record-phase", action="append", help=argparse.SUPPRESS)  # NAME=SECONDS, from the container
    p.add_argument("--install-source", help=argparse.SUPPRESS)  # where the container installed from, for the header
    p.set_defaults(pytest_args=[])
    p.set_defaults(func=cmd_run)
    p = sub.add_parser(
        "combine", help="merge the results folders of several runs (the shards of one suite) into one",
        description="Merge results folders written by async-test run --shard K/N (or any runs of one project) into "
                    "OUTPUT: JUnit per pass, coverage per pass and combined (coverage.py's combine, paths remapped "
                    "when the shards ran in different folders), summary.json, summary.md, durations.json; HTML with "
                    "--html. Coverage thresholds are checked here, on the combined figures. The input folders are "
                    "only read.",
        epilog="exit codes: as async-test run's, for the merged results; also 2: input folders that are not one "
               "suite's parts (nothing written), 3: an input's unreadable JUnit or coverage data (recorded), 1: a "
               "shard whose selected tests did not all report",
    )
    p.add_argument("output", help="the combined results folder (new, empty, or an earlier async-test results folder)")
    p.add_argument("results_dirs", nargs="+", metavar="RESULTS_DIR", help="a shard's results folder (one or more)")
    p.add_argument("--html", action="store_true", help="also write the combined coverage HTML report")
    p.add_argument("--html-include-tests", action="store_true", help=HTML_TESTS_HELP)
    p.add_argument("--project", metavar="DIR",
                   help="the project whose sources the coverage reports read (default: the first shard's, if it "
                        "exists here, else the one in the current folder)")
    p.add_argument("--cov-source", action="append", metavar="PATH",
                   help="what the shards measured, if you gave them --cov-source (repeatable; default as for run)")
    p.add_argument("--fail-under", type=_percent, metavar="PCT",
                   help="minimum combined coverage (default: the threshold the shards recorded)")
    p.add_argument("--fail-under-unit", type=_percent, metavar="PCT", help="minimum unit-pass coverage")
    p.add_argument("--fail-under-integration", type=_percent, metavar="PCT",
                   help="minimum integration-pass coverage")
    p.set_defaults(func=cmd_combine)
    p = sub.add_parser("init-cluster", help="make a pre-initialised cluster for the pg_cluster option (fast start)")
    p.add_argument("directory")
    p.add_argument("--source", choices=["auto", "local", "embedded"], default="auto")
    p.add_argument("--bin-dir", default=None)
    p.set_defaults(func=cmd_init_cluster)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["report"]:  # runs on the CI runner, outside the container: its own parser
        from .github.report import main as report_main

        return report_main(words[1:])
    if words[:1] == ["compare"]:  # issue 25: standard library only, like the report (runs on the CI runner)
        from .baseline.command import main as compare_main

        return compare_main(words[1:])
    passthrough: List[str] = []
    if "--" in words:  # everything after -- belongs to pytest, untouched by our parser
        cut = words.index("--")
        words, passthrough = words[:cut], words[cut + 1:]
    args = build_parser().parse_args(words)
    if passthrough:
        if args.command != "run":
            print("async-test: arguments after -- are only for 'async-test run'", file=sys.stderr)
            return EXIT_USAGE
        args.pytest_args = passthrough
    try:
        return int(args.func(args))
    except ArgumentsError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except SettingsError as exc:
        _error(f"configuration error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:  # before `async-test run` installs its handlers, or in the other commands
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        from .server.postgres import PostgresError
        from .server.template import SchemaError

        if not isinstance(exc, (PostgresError, SchemaError)):
            raise
        _error(str(exc))
        return EXIT_INFRA


def _error(message: str) -> None:
    """One line on stderr, whatever it holds (a path or value with undecodable bytes included)."""
    from .runner.results_folder import clean_text

    text = f"async-test: {clean_text(message)}\n"
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr.write(text.encode(encoding, "backslashreplace").decode(encoding))


if __name__ == "__main__":
    sys.exit(main())
