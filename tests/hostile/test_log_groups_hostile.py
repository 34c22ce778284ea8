"""The action's collapsible groups against output the tests forged (issue 15 item 5, issue 17 item 4).

The container's output is the tests' to write. The action (github/action.py FencedLog) shows it
between stop-commands fences and, at each phase line the runner prints, closes the fence, opens a
group titled from its own table and reopens the fence with a new token. A test can print a phase
line too; whatever it prints, the only commands GitHub may execute are our ``::group::`` with one
of our fixed titles and ``::endgroup::``, and every byte of the output is still shown.
"""

from __future__ import annotations

import io
import random
import re
from typing import List

import pytest

from async_test_harness import phases
from async_test_harness.github.action import FencedLog
from reports import workflow_commands

OUR_COMMANDS = {f"::group::{title}" for title in phases.GROUPS.values() if title} | {"::endgroup::"}
TOKEN_LINE = re.compile(r"^::(stop-commands::)?[0-9a-f]{32}::?$|^::stop-commands::[0-9a-f]{32}$")

HOSTILE = [
    "::error::x\n",
    "::add-mask::ghs_secret\n",
    "::endgroup::\n",
    "::stop-commands::deadbeef\n",
    "::deadbeef::\n",
    "::set-env name=EVIL::1\n",
    # fake phase lines: ours (it may pick which of our titles is next), and ones carrying commands
    phases.line(phases.SUMMARY) + "\n",
    phases.line(phases.UNIT) + "\n",
    "\x1b[1m" + phases.line(phases.COVERAGE) + "\x1b[0m\n",
    phases.line("::error::x") + "\n",
    phases.line(phases.UNIT) + " ::error::x\n",
    "── ::group::evil ─────\n",
    phases.line(phases.INTEGRATION) + "\r::error::after-cr\n",
    "progress without a newline ....",
    "\r::warning::lone-cr\n",
    "\udcff invalid \xff bytes\n",
]


def shown(log: str) -> List[str]:
    """The log's lines as they appear, without the fences and our commands (GitHub hides those)."""
    return [line for line in log.split("\n") if not TOKEN_LINE.match(line) and line not in OUR_COMMANDS]


def fed(chunks: List[bytes]) -> str:
    out = io.StringIO()
    log = FencedLog(out)
    log.start()
    for chunk in chunks:
        log.feed(chunk)
    log.close()
    return out.getvalue()


def real_run(hostile: str) -> bytes:
    """What the container prints in a run where a test prints ``hostile`` during the unit pass."""
    parts = [phases.line(phases.INSTALL), "async-test: dependencies installed in 3.2s",
             phases.line(phases.SETTINGS), "async-test run 0.1.0: /home/runner/work/repo/repo",
             phases.line(phases.UNIT)]
    text = "\n".join(parts) + "\n" + hostile + "\n" + phases.line(phases.SUMMARY) + "\nresult: tests failed (exit 1)\n"
    return text.encode("utf-8", "surrogateescape")


def chunked(data: bytes, seed: int) -> List[bytes]:
    rng = random.Random(seed)
    chunks, i = [], 0
    while i < len(data):
        step = rng.choice([1, 2, 3, 7, 64, 4096])
        chunks.append(data[i:i + step])
        i += step
    return chunks


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_output_issues_no_command_but_our_groups(hostile, seed):
    data = real_run(hostile)
    log = fed([data] if seed is None else chunked(data, seed))
    commands = workflow_commands(log)
    assert set(commands) <= OUR_COMMANDS, commands
    # the hostile text is shown, whole (a line without a newline gets one before the fence closes)
    assert hostile.rstrip("\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace") in log
    assert "::add-mask::" not in commands and "::error::x" not in commands


@pytest.mark.parametrize("seed", range(5))
def test_every_chunking_gives_the_same_log(seed):
    """Live output (read1: whatever has arrived) must not change what is shown or grouped."""
    data = b"".join(real_run(h) for h in HOSTILE)
    whole, pieces = fed([data]), fed(chunked(data, seed))
    assert shown(whole) == shown(pieces)
    assert workflow_commands(whole) == workflow_commands(pieces)


def test_phases_become_groups_with_our_titles_and_the_results_stay_outside():
    log = fed([real_run("hello")])
    assert workflow_commands(log) == [
        f"::group::{phases.GROUPS[phases.INSTALL]}", "::endgroup::",
        f"::group::{phases.GROUPS[phases.SETTINGS]}", "::endgroup::",
        f"::group::{phases.GROUPS[phases.UNIT]}", "::endgroup::",
    ]
    after = log.split("::endgroup::\n")[-1]
    assert "result: tests failed (exit 1)" in after and "::group::" not in after


def test_each_fence_has_a_new_token_and_closes_on_a_line_of_its_own():
    log = fed([b"no newline at all"])
    lines = log.split("\n")
    token = lines[0].split("::stop-commands::")[1]
    assert lines[1] == "no newline at all" and lines[2] == f"::{token}::"
    many = fed([real_run("x")])
    tokens = re.findall(r"::stop-commands::([0-9a-f]{32})", many)
    assert len(tokens) == 5 and len(set(tokens)) == 5  # the first fence, then one per phase
    for token in tokens:
        assert f"\n::{token}::\n" in many


def test_a_fake_phase_line_chooses_only_among_our_titles():
    forged = phases.line(phases.COVERAGE) + "\n::error::inside\n"
    log = fed([real_run(forged)])
    titles = [c for c in workflow_commands(log) if c.startswith("::group::")]
    assert titles[-1] == f"::group::{phases.GROUPS[phases.COVERAGE]}"
    assert "::error::inside" not in workflow_commands(log) and "::error::inside" in log


def test_a_partial_line_that_looks_like_a_phase_waits_only_until_it_ends():
    out = io.StringIO()
    log = FencedLog(out)
    log.start()
    log.feed(phases.line(phases.UNIT)[:10].encode())
    assert "──" not in out.getvalue()  # held: it may become a phase line
    log.feed(b"...\n")  # it did not
    assert "::group::" not in out.getvalue() and "...\n" in out.getvalue()
    log.feed(b"dots ....")
    assert out.getvalue().endswith("dots ....")  # ordinary progress is shown at once
    log.close()


def test_coloured_progress_is_shown_as_it_comes():
    out = io.StringIO()
    log = FencedLog(out)
    log.start()
    log.feed(b"\x1b[32m.\x1b[0m\x1b[32m.")
    assert out.getvalue().endswith("\x1b[32m.\x1b[0m\x1b[32m.")
    log.close()
    for partial in ("\x1b", "\x1b[1", "\x1b[1m", "\x1b[1m─", "── ", "── unit"):
        assert phases.may_become_phase(partial), partial
    for partial in ("\x1b[32m.", "tests/x.py ..", "─x", "x──"):
        assert not phases.may_become_phase(partial), partial


def test_an_endless_line_is_not_held_forever():
    out = io.StringIO()
    log = FencedLog(out)
    log.start()
    log.feed("── ".encode() + b"x" * 100)
    assert "xxxx" not in out.getvalue()  # it may still become a phase line
    log.feed(b"x" * FencedLog.HOLD_LIMIT)
    assert "xxxx" in out.getvalue()
    log.close()
