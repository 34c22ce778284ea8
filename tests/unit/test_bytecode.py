"""Where the tests' bytecode goes: the cache, or nowhere when the user says so."""

import os

import pytest

from async_test_harness.runner.bytecode import environment


def test_the_default_is_a_prefix_under_the_cache_home(tmp_path):
    got = environment({"XDG_CACHE_HOME": str(tmp_path)}, None)
    assert got == {"PYTHONPYCACHEPREFIX": str(tmp_path / "async-test" / "pycache")}
    assert (tmp_path / "async-test" / "pycache").is_dir()


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
