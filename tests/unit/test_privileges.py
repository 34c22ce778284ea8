"""The container's user switch: the folder handed to the unprivileged account, and which one it is."""

import os
from pathlib import Path

import pytest

from async_test_harness.runner.container import results_argument
from async_test_harness.runner.privileges import Privileges
from async_test_harness.runner.results_folder import MARKER


def test_the_results_folder_is_the_runs(tmp_path):
    root = tmp_path / "project"
    assert results_argument(["backend", "--only", "unit"], root) == root / ".async-test"
    assert results_argument(["--results-dir", str(tmp_path / "out"), "."], root) == tmp_path / "out"
    assert results_argument([f"--results-dir={tmp_path / 'r'}"], root) == tmp_path / "r"
    assert results_argument([".", "--", "--results-dir", "x"], root) == root / ".async-test", "a pytest argument"


@pytest.mark.skipif(os.geteuid() != 0, reason="hands folders over with chown: needs root")
def test_only_a_new_empty_or_async_tests_folder_is_handed_over(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "seteuid", lambda uid: None)  # already root here; the real switch is the image's
    given = Privileges(10001, 10001)
    new = tmp_path / "a" / "new"
    assert given.hand_over(new) and new.stat().st_uid == 10001
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / MARKER).write_text("x")
    (ours / "summary.json").write_text("{}")
    assert given.hand_over(ours) and {p.stat().st_uid for p in [ours, *ours.iterdir()]} == {10001}
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "index.md").write_text("mine")
    assert not given.hand_over(foreign) and (foreign / "index.md").stat().st_uid == 0
    link = tmp_path / "link"
    link.symlink_to(foreign)
    assert not given.hand_over(link) and foreign.stat().st_uid == 0
    assert Path(foreign / "index.md").read_text() == "mine"
