"""Merging the maps the shards of a --record-map run each recorded of their own tests (testmap.merge)."""

from __future__ import annotations

from async_test_harness.testmap import TestMap, merge


def shard_map(tests, kinds, blocks, lines, commit="abc"):
    return TestMap(tests=tests, kinds=kinds, base_commit=commit, has_lines=True,
                   files={"app/a.py": {"functions": [[1, 3]], "blocks": blocks, "import_time": [0],
                                       "lines": lines}})


def test_the_shards_maps_merge_into_one_of_every_test():
    one = shard_map(["t1", "t2"], ["unit", "integration"], {"1": [0, 1]}, [[[0], [2]], [[0, 1], [3]]])
    two = shard_map(["t3"], ["unit"], {"1": [0]}, [[[0], [2, 3]]])
    merged = merge([one, two])
    assert isinstance(merged, TestMap)
    assert merged.tests == ["t1", "t2", "t3"] and merged.kinds == ["unit", "integration", "unit"]
    assert merged.tests_touching("app/a.py") == {"t1", "t2", "t3"}
    assert merged.lines_of("app/a.py", {2}) == {"unit": {2, 3}, "integration": set()}  # t3's lines
    assert merged.lines_of("app/a.py", {1}) == {"unit": set(), "integration": {3}}  # t2's
    assert merged.has_lines and merged.base_commit == "abc"


def test_maps_of_different_commits_are_not_merged():
    found = merge([shard_map(["t1"], ["unit"], {}, []), shard_map(["t2"], ["unit"], {}, [], commit="def")])
    assert isinstance(found, str) and "different commits" in found


def test_a_damaged_map_is_one_line():
    broken = shard_map(["t1"], ["unit"], {"1": [5]}, [])  # index 5: no such test
    found = merge([broken])
    assert isinstance(found, str) and "damaged" in found
