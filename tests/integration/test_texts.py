"""What a newcomer reads first says what is true (issue 24 item 9): --help, the run's lines, docs/run.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from async_test_harness.cli import build_parser
from helpers import REPO


def test_help_is_plain_text_for_every_command() -> None:
    """`async-test --help` said "The ``async-test`` command." (the module docstring's reStructuredText)."""
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        texts += [sub.format_help() for sub in action.choices.values()]
    assert len(texts) > 5
    for text in texts:
        assert "``" not in text and ":func:" not in text, text
    assert "PostgreSQL" in texts[0]


def test_the_default_runs_lines_are_docs_run_md_and_name_files_that_exist(tmp_path: Path) -> None:
    """docs/run.md showed `── unit pass ──` lines the default run no longer prints; pytest's
    `generated xml file: .../junit-all.xml` named a file removed when the run ends."""
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (project / "tests" / "test_one.py").write_text("def test_one():\n    assert True\n")
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNC_TEST_", "PYTEST_"))}
    done = subprocess.run([sys.executable, "-m", "async_test_harness.cli", "run", str(project), "--results-dir",
                           str(results)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    printed = [line.strip(" ─") for line in done.stdout.splitlines() if line.startswith("── ")]
    doc = (REPO / "docs" / "run.md").read_text()
    block = re.search(r"prints:\n\n```text\n(.*?)```", doc, re.S)
    assert block, "docs/run.md lost the default run's phase lines"
    documented = [line.strip(" ─") for line in block.group(1).splitlines() if line.startswith("── ")]
    assert printed == documented, (printed, documented)
    named = re.findall(r"generated xml files?: (\S+)", done.stdout)
    assert named and all(Path(p).is_file() for p in named), (named, sorted(os.listdir(results)))
    assert "junit-all.xml" not in done.stdout
