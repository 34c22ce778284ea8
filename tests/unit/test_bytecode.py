"""Where the tests' bytecode goes: the cache, or nowhere when the user says so."""

import os

import pytest

from async_test_harness.runner import bytecode
from async_test_harness.runner.bytecode import environment


def test_an_environment_without_bytecode_gets_a_prefix_under_the_cache_home(tmp_path, monkeypatch):
    monkeypatch.setattr(bytecode, "installed_without_bytecode", lambda python: True)
    got = environment({"XDG_CACHE_HOME": str(tmp_path)}, None)
    assert got == {"PYTHONPYCACHEPREFIX": str(tmp_path / "async-test" / "pycache")}
    assert (tmp_path / "async-test" / "pycache").is_dir()


def test_an_environment_with_bytecode_is_read_and_nothing_is_written(tmp_path, monkeypatch):
    """Under a prefix Python would ignore the environment's own bytecode and compile it all again."""
    monkeypatch.setattr(bytecode, "installed_without_bytecode", lambda python: False)
    assert environment({"XDG_CACHE_HOME": str(tmp_path)}, None) == {"PYTHONDONTWRITEBYTECODE": "1"}
    assert environment({}, str(tmp_path / "chosen")) == {"PYTHONPYCACHEPREFIX": str(tmp_path / "chosen")}


def test_the_check_reads_this_interpreters_pytest():
    import importlib.util
    import sys

    import pytest as the_pytest

    has = os.path.exists(importlib.util.cache_from_source(the_pytest.__file__))
    assert bytecode.installed_without_bytecode(sys.executable) is (not has)
    assert bytecode.installed_without_bytecode("/usr/bin/env") is False, "another interpreter: not asked"


@pytest.mark.parametrize("users", [{"PYTHONDONTWRITEBYTECODE": "1"}, {"PYTHONPYCACHEPREFIX": "/somewhere"}])
def test_the_users_own_choice_wins(tmp_path, users):
    assert environment({"XDG_CACHE_HOME": str(tmp_path), **users}, str(tmp_path / "mine")) == {}
    assert not (tmp_path / "mine").exists()


def test_off_and_an_unusable_folder_mean_no_bytecode(tmp_path):
    assert environment({}, "off") == {"PYTHONDONTWRITEBYTECODE": "1"}
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert environment({}, str(blocker / "pycache")) == {"PYTHONDONTWRITEBYTECODE": "1"}
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert environment({}, str(locked)) == {"PYTHONDONTWRITEBYTECODE": "1"}
