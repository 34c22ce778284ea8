"""The results folder is the tests' to write, and actions/upload-artifact follows symbolic links on
the runner: nothing but the folder's regular files may leave as an artifact, and the badge the
report writes there must not be written through a link to a runner file."""

import io
import json
import os
import re

from async_test_harness.github.action import badge_step, prepare_upload_step
from async_test_harness.github.artifact import prepare
from reports import summary


def results(tmp_path):
    folder = tmp_path / "ws" / "backend" / ".async-test"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary()))
    (folder / "html").mkdir()
    (folder / "html" / "index.html").write_text("<html/>")
    secret = tmp_path / "runner-secret"
    secret.write_text("ACTIONS_RUNTIME_TOKEN=x")
    return folder, secret


def env_for(tmp_path, out="out"):
    return {"GITHUB_WORKSPACE": str(tmp_path / "ws"), "INPUT_WORKING_DIRECTORY": "backend",
            "GITHUB_OUTPUT": str(tmp_path / out)}


def test_links_and_special_files_in_the_results_folder_are_removed_before_an_upload(tmp_path):
    folder, secret = results(tmp_path)
    (folder / "leak").symlink_to(secret)
    (folder / "html" / "environ").symlink_to("/proc/self/environ")
    (folder / "runner-home").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(folder / "pipe")
    buffer = io.StringIO()
    assert prepare_upload_step(env_for(tmp_path), out=buffer) == 0
    left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    assert left == ["html", "html/index.html", "summary.json"]
    assert secret.read_text() == "ACTIONS_RUNTIME_TOKEN=x" and tmp_path.is_dir()  # targets untouched
    assert buffer.getvalue().startswith("::warning title=async-test%3A artifact::4 symbolic link(s)")
    assert re.search(r"upload<<(\S+)\ntrue\n\1", (tmp_path / "out").read_text())


def test_a_results_folder_reached_through_a_link_is_not_uploaded(tmp_path):
    folder, _ = results(tmp_path)
    outside = tmp_path / "runner-files"
    folder.rename(outside)
    folder.symlink_to(outside, target_is_directory=True)
    buffer = io.StringIO()
    assert prepare_upload_step(env_for(tmp_path), out=buffer) == 0
    assert "reached through the symbolic link backend/.async-test" in buffer.getvalue()
    assert re.search(r"upload<<(\S+)\nfalse\n\1", (tmp_path / "out").read_text())
    assert badge_step(env_for(tmp_path, "out2")) == 0 and not (outside / "badge.svg").exists()
    assert (outside / "summary.json").is_file()  # the check removed nothing there either


def test_the_badge_replaces_a_link_the_tests_left_instead_of_writing_through_it(tmp_path):
    folder, secret = results(tmp_path)
    (folder / "badge.svg").symlink_to(secret)
    assert badge_step(env_for(tmp_path)) == 0
    assert secret.read_text() == "ACTIONS_RUNTIME_TOKEN=x"
    assert not (folder / "badge.svg").is_symlink() and (folder / "badge.svg").read_text().startswith("<svg")
    assert [p.name for p in folder.iterdir() if p.name.startswith(".badge")] == []


def test_a_missing_results_folder_uploads_nothing_and_says_why(tmp_path):
    (tmp_path / "ws").mkdir()
    try:
        prepare(tmp_path / "ws", "backend/.async-test")
    except Exception as exc:
        assert "no results folder at backend/.async-test" in str(exc) and "\n" not in str(exc)
    else:
        raise AssertionError("a missing folder was uploaded")
