"""The kept test environment's key: it changes exactly when what gets installed can change."""

import os
import time
from dataclasses import replace
from pathlib import Path

from async_test_harness.runner import venv_cache
from async_test_harness.settings import ContainerSettings


def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    (root / "requirements.txt").write_text("-r base.txt\nhttpx==0.27.0\n")
    (root / "base.txt").write_text("fastapi==0.115.0\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("def test_x(): pass\n")
    return root


def key_of(root: Path, tmp_path: Path, settings: ContainerSettings = ContainerSettings(), env=None) -> str:
    wheel = tmp_path / "async_test_harness-0.1.0-py3-none-any.whl"
    if not wheel.exists():
        wheel.write_bytes(b"wheel one")
    return venv_cache.key(root, settings, wheel, env or {})


def test_the_key_is_stable_while_nothing_installed_changes(tmp_path):
    root = project(tmp_path)
    first = key_of(root, tmp_path)
    (root / "tests" / "test_x.py").write_text("def test_x(): assert 1\n")  # code, not dependencies
    (root / "README.md").write_text("hello\n")
    assert key_of(root, tmp_path) == first


def test_the_key_changes_with_a_requirement_an_included_file_settings_index_or_harness(tmp_path):
    root = project(tmp_path)
    first = key_of(root, tmp_path)
    keys = {first}
    (root / "base.txt").write_text("fastapi==0.115.1\n")  # only reachable through -r
    keys.add(key_of(root, tmp_path))
    (root / "requirements.txt").write_text("-r base.txt\nhttpx==0.27.2\n")
    keys.add(key_of(root, tmp_path))
    keys.add(key_of(root, tmp_path, replace(ContainerSettings(), extras=["pg"])))
    keys.add(key_of(root, tmp_path, env={"UV_INDEX_URL": "https://mirror.example/simple"}))
    (tmp_path / "async_test_harness-0.1.0-py3-none-any.whl").write_bytes(b"wheel two")
    keys.add(key_of(root, tmp_path))
    assert len(keys) == 6


def test_a_lock_file_wins_and_is_part_of_the_key(tmp_path):
    root = project(tmp_path)
    (root / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    (root / "uv.lock").write_text("version = 1\n")
    files = venv_cache.source_files(root, ContainerSettings())
    assert [f.name for f in files] == ["uv.lock", "pyproject.toml"]
    first = key_of(root, tmp_path)
    (root / "base.txt").write_text("fastapi==0.1\n")  # not read when the lock is
    assert key_of(root, tmp_path) == first
    (root / "uv.lock").write_text("version = 1\n# changed\n")
    assert key_of(root, tmp_path) != first


def test_an_unfinished_environment_is_not_ready_and_old_ones_are_pruned(tmp_path):
    cache = tmp_path / "cache"
    entries = [venv_cache.entry(cache, f"k{i}") for i in range(5)]
    for i, one in enumerate(entries):
        (one.path / "bin").mkdir(parents=True)
        (one.path / "bin" / "python").write_text("")
        if i:
            one.mark_ready("requirements.txt")
            os.utime(one.path / venv_cache.MARKER, (time.time() - 100 + i, time.time() - 100 + i))
    assert entries[0].ready() is None  # no marker: an install that never finished
    assert entries[4].ready()["source"] == "requirements.txt"
    removed = venv_cache.prune(cache, keep_key="k1")
    # k1 is in use; of the rest the two most recently used stay (KEEP = 3 with k1)
    assert sorted(removed) == ["k0", "k2"]
    assert {p.name for p in (cache / "venvs").iterdir() if p.is_dir()} == {"k1", "k3", "k4"}


def test_install_after_and_the_installed_projects_folder_are_part_of_the_key(tmp_path):
    """Issue 24: the command run after the install changes what is installed; an installed project's
    editable paths point at its folder, so the same files elsewhere are another environment."""
    root = project(tmp_path)
    first = key_of(root, tmp_path)
    after = key_of(root, tmp_path, replace(ContainerSettings(), install_after="uv pip install six"))
    assert after != first
    assert key_of(root, tmp_path, replace(ContainerSettings(), install_after="uv pip install seven")) != after
    build = '[project]\nname = "p"\nversion = "0"\n[build-system]\nbuild-backend = "hatchling.build"\n'
    (root / "pyproject.toml").write_text(build)
    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = project(other)
    (moved / "pyproject.toml").write_text(build)
    assert key_of(root, tmp_path) != key_of(moved, tmp_path)
    off = replace(ContainerSettings(), install_project=False)
    assert key_of(root, tmp_path, off) == key_of(moved, tmp_path, off)
