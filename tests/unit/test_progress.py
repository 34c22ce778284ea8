"""Progress in the log (issue 15 item 5, issue 17 item 4): phase lines, colour, the host's paths."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from async_test_harness import phases
from async_test_harness.runner.passes import Console, Run, RunOptions, colour_wanted, shown
from async_test_harness.runner.project import find_project


def test_every_phase_line_is_recognised_plain_and_coloured_and_nothing_else_is():
    for name in phases.GROUPS:
        assert phases.phase_of(phases.line(name) + "\n") == name
        assert phases.phase_of(f"\x1b[1m{phases.line(name)}\x1b[0m\r\n") == name
    for text in ("── ::error::x ─────\n", phases.line(phases.UNIT) + " x\n", "x" + phases.line(phases.UNIT),
                 "── unit pass ──\n", "async-test: unit pass passed in 1.0s\n"):
        assert phases.phase_of(text) is None, text


def test_console_rules_are_phase_lines(monkeypatch):
    monkeypatch.setenv("ASYNC_TEST_COLOR", "yes")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    Console(out).rule(phases.COVERAGE)
    assert "\x1b[" in out.getvalue() and phases.phase_of(out.getvalue()) == phases.COVERAGE


@pytest.mark.parametrize("env, tty, wanted", [
    ({}, False, False), ({}, True, True), ({"ASYNC_TEST_COLOR": "yes"}, False, True),
    ({"ASYNC_TEST_COLOR": "no"}, True, False), ({"FORCE_COLOR": "1"}, False, True),
    ({"ASYNC_TEST_COLOR": "yes", "NO_COLOR": "1"}, True, False),
])
def test_colour_is_asked_for_or_left_to_the_terminal(monkeypatch, env, tty, wanted):
    for name in ("ASYNC_TEST_COLOR", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert colour_wanted(Stream()) is wanted


def test_pytest_gets_color_yes_only_when_asked_and_before_the_users_arguments(tmp_path, monkeypatch):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    project = find_project(str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    run = Run(RunOptions(project_dir=str(tmp_path), pytest_args=["--color=no"]))
    monkeypatch.setenv("ASYNC_TEST_COLOR", "yes")
    cmd = run._command("unit", project, tmp_path / ".async-test")
    assert cmd.index("--color=yes") < cmd.index("--color=no")  # pytest keeps the last: the user's wins
    monkeypatch.setenv("ASYNC_TEST_COLOR", "auto")
    assert "--color=yes" not in run._command("unit", project, tmp_path / ".async-test")


def test_the_runners_paths_are_the_hosts(monkeypatch):
    monkeypatch.setenv("ASYNC_TEST_HOST_WORKSPACE", "/home/me/repo/")
    monkeypatch.delenv("ASYNC_TEST_WORKSPACE", raising=False)
    assert shown(Path("/workspace/backend/.async-test")) == "/home/me/repo/backend/.async-test"
    assert shown("/workspace") == "/home/me/repo"
    assert shown("/workspaces/other") == "/workspaces/other"  # a prefix of a name is not the mount
    assert shown("/tmp/x") == "/tmp/x"
    monkeypatch.delenv("ASYNC_TEST_HOST_WORKSPACE")
    assert shown("/workspace/backend") == "/workspace/backend"
    # In the image without the host path (a plain docker run): from the mounted folder, never /workspace.
    monkeypatch.setenv("_ASYNC_TEST_IN_IMAGE", "1")
    assert shown("/workspace/backend/.async-test/summary.md") == "<mounted folder>/backend/.async-test/summary.md"
    assert shown("/tmp/x") == "/tmp/x"
    monkeypatch.setenv("ASYNC_TEST_HOST_WORKSPACE", "/home/me/repo")
    assert shown("/workspace/backend") == "/home/me/repo/backend"  # the host path, when given, wins
