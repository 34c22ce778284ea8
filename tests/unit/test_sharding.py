"""The shard assignment (sharding.py): every test in exactly one shard, balanced, the same everywhere.

The plugin, the runner and the benchmark rely on ``assign`` being a pure function of the node ids,
the durations and N: each shard computes the whole assignment on its own machine and keeps its
part, so any difference between two machines would run a test twice or never.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Dict, List

import pytest

from async_test_harness.sharding import (
    DURATIONS_FILE,
    MAX_DEPTH,
    MAX_SHARDS,
    Shard,
    ShardError,
    assign,
    balance,
    durations_text,
    estimates,
    fingerprint,
    module_of,
    parse_shard,
    read_durations,
)


def suite(modules: int = 20, per_module: int = 5) -> List[str]:
    return [f"tests/test_m{m:02d}.py::test_{t}" for m in range(modules) for t in range(per_module)]


@pytest.mark.parametrize(("text", "shard"), [("1/3", Shard(1, 3)), ("3/3", Shard(3, 3)), (" 2 / 4 ", Shard(2, 4)),
                                             ("1/1", Shard(1, 1))])
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard and str(shard) == f"{shard.index}/{shard.total}"


@pytest.mark.parametrize(("text", "why"), [
    ("0/3", "numbered from 1"), ("4/3", "only 3 shard(s)"), ("a/b", "not two whole numbers"),
    ("1/0", "there are no shards"), ("", "not two whole numbers"), ("1", "not two whole numbers"),
    ("-1/3", "not two whole numbers"), ("1/3/4", "not two whole numbers"),
])
def test_a_bad_shard_says_what_is_wrong_and_what_to_give(text: str, why: str) -> None:
    with pytest.raises(ShardError) as err:
        parse_shard(text)
    message = str(err.value)
    assert why in message and "1 <= K <= N" in message and "\n" not in message


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7, 30])
@pytest.mark.parametrize("split", [False, True])
def test_every_test_is_in_exactly_one_shard(total: int, split: bool) -> None:
    ids = suite()
    durations = {n: (i % 7) * 0.1 for i, n in enumerate(ids) if i % 3}  # some known, some not, some zero
    placed = assign(ids, durations, total, split)
    assert set(placed) == set(ids)
    assert all(1 <= shard <= total for shard in placed.values())
    parts = [{n for n, s in placed.items() if s == k} for k in range(1, total + 1)]
    assert sum(len(p) for p in parts) == len(ids) and set().union(*parts) == set(ids)


def test_the_assignment_does_not_depend_on_the_order_tests_were_collected_in() -> None:
    ids = suite(30, 4)
    durations = {n: random.Random(1).random() for n in ids[::2]}
    expected = assign(ids, durations, 4)
    for seed in range(5):
        shuffled = list(ids)
        random.Random(seed).shuffle(shuffled)
        assert assign(shuffled, dict(reversed(list(durations.items()))), 4) == expected


def test_a_modules_tests_stay_together_unless_splitting_is_allowed() -> None:
    ids = [f"tests/test_big.py::TestX::test_{i}" for i in range(10)] + ["tests/test_small.py::test_a"]
    placed = assign(ids, {}, 3)
    assert len({placed[n] for n in ids if module_of(n) == "tests/test_big.py"}) == 1
    split = assign(ids, {}, 3, split_modules=True)
    assert len({split[n] for n in ids if module_of(n) == "tests/test_big.py"}) == 3


def test_known_durations_balance_the_shards_longest_first() -> None:
    rng = random.Random(7)
    ids = suite(100, 10)
    durations = {n: rng.paretovariate(1.5) * 0.01 for n in ids}  # skewed: a few slow modules
    placed = assign(ids, durations, 4)
    slowest, ideal = balance(placed, durations, 4)
    assert slowest / ideal < 1.15


def test_one_module_longer_than_the_ideal_gets_a_shard_of_its_own() -> None:
    ids = ["tests/test_slow.py::test_a", "tests/test_slow.py::test_b", *suite(6, 1)]
    durations = {"tests/test_slow.py::test_a": 50.0, "tests/test_slow.py::test_b": 50.0}
    durations.update({n: 1.0 for n in suite(6, 1)})
    placed = assign(ids, durations, 2)
    assert {n for n, s in placed.items() if s == placed["tests/test_slow.py::test_a"]} == {
        "tests/test_slow.py::test_a", "tests/test_slow.py::test_b"}


def test_unknown_tests_count_as_the_median_known_one() -> None:
    times = estimates(["a::1", "a::2", "b::1", "c::1"], {"a::1": 1.0, "a::2": 3.0, "b::1": 2.0, "old::1": 100.0})
    assert times == {"a::1": 1.0, "a::2": 3.0, "b::1": 2.0, "c::1": 2.0}  # old::1 is not in the suite: not counted


def test_with_no_durations_files_are_dealt_by_their_size() -> None:
    # Equal files: round robin, in name order.
    placed = assign(suite(6, 3), {}, 3)
    assert [placed[f"tests/test_m{m:02d}.py::test_0"] for m in range(6)] == [1, 2, 3, 1, 2, 3]
    # One big file and small ones: the big one alone, the small ones share the rest.
    ids = [f"tests/test_big.py::test_{i}" for i in range(6)] + suite(6, 1)
    placed = assign(ids, {}, 2)
    assert sum(1 for s in placed.values() if s == placed["tests/test_big.py::test_0"]) == 6


def test_more_shards_than_modules_leaves_shards_empty() -> None:
    placed = assign(suite(2, 3), {}, 5)
    assert sorted(set(placed.values())) == [1, 2]


def test_the_durations_file_round_trips_and_accepts_a_plain_mapping(tmp_path: Path) -> None:
    path = tmp_path / DURATIONS_FILE
    path.write_text(durations_text({"b::t": 0.1234567891, "a::t": 2}))
    doc = json.loads(path.read_text())
    assert doc["format"] == "async-test-durations" and list(doc["durations"]) == ["a::t", "b::t"]
    assert read_durations(path) == {"a::t": 2.0, "b::t": 0.123457}
    path.write_text(json.dumps({"x::t": 1.5, "y::t": "slow", "z::t": -1, "w::t": True}))
    assert read_durations(path) == {"x::t": 1.5}


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"format": "async-test-durations", "durations": 3}'])
def test_a_broken_durations_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(ShardError) as err:
        read_durations(path)
    assert str(path) in str(err.value)


def test_the_same_inputs_give_the_same_assignment_in_another_process(tmp_path: Path) -> None:
    """No hash randomisation, no set order: a second interpreter computes the same shards."""
    import subprocess
    import sys

    ids = suite(40, 3)
    durations: Dict[str, float] = {n: (i * 37 % 11) / 10 for i, n in enumerate(ids) if i % 4}
    (tmp_path / "in.json").write_text(json.dumps({"ids": ids, "durations": durations}))
    code = ("import json, sys; from async_test_harness.sharding import assign; d = json.load(open(sys.argv[1])); "
            "print(json.dumps(assign(d['ids'], d['durations'], 3), sort_keys=True))")
    outs = {subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.json")], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed}, check=True).stdout for seed in ("1", "2")}
    assert outs == {json.dumps(assign(ids, durations, 3), sort_keys=True) + "\n"}


# ------------------------------------------------------------------ issue 22 item 6: hostile numbers


@pytest.mark.parametrize("text", ["1/100000000", f"1/{MAX_SHARDS + 1}", "1/" + "9" * 5000,
                                  "9" * 5000 + "/" + "9" * 5000])
def test_more_shards_than_any_ci_runs_are_refused_at_once(text: str) -> None:
    """--shard 1/100000000 ran for half a minute into a MemoryError; 5,000 digits were a ValueError."""
    with pytest.raises(ShardError) as err:
        parse_shard(text)
    message = str(err.value)
    assert f"at most {MAX_SHARDS:,} shards" in message and "\n" not in message and len(message) < 400
    with pytest.raises(ShardError):
        assign(suite(2, 2), {}, MAX_SHARDS + 1)


def test_the_most_shards_allowed_still_place_every_test_once() -> None:
    ids = suite(300, 4)
    placed = assign(ids, {}, MAX_SHARDS)
    assert set(placed) == set(ids) and len(set(placed.values())) == 300  # one module per shard, the rest empty
    assert parse_shard(f"{MAX_SHARDS}/{MAX_SHARDS}") == Shard(MAX_SHARDS, MAX_SHARDS)


def test_the_heap_places_as_the_least_loaded_shard_rule_says() -> None:
    """The assignment is the documented rule (each unit to the least loaded shard, the lowest on a tie)."""
    rng = random.Random(7)
    for _ in range(20):
        ids = suite(rng.randint(1, 40), rng.randint(1, 4))
        durations = {n: rng.choice([0.0, 0.1, 0.5, 2.0]) for n in ids if rng.random() < 0.7}
        total = rng.randint(1, 9)
        times = estimates(sorted(set(ids)), durations)
        cost = {m: math.fsum(times[n] for n in ids if module_of(n) == m) for m in {module_of(n) for n in ids}}
        loads = [0.0] * total
        expected = {}
        for unit in sorted(cost, key=lambda u: (-cost[u], u)):
            shard = min(range(total), key=lambda s: (loads[s], s))
            loads[shard] += cost[unit]
            expected[unit] = shard + 1
        assert {n: expected[module_of(n)] for n in ids} == assign(ids, durations, total)


def test_durations_that_are_not_durations_are_dropped_and_named(tmp_path: Path) -> None:
    """1e308 overflowed every sum (OverflowError) and was copied into the next run's file by combine."""
    path = tmp_path / "d.json"
    path.write_text('{"ok::t": 2.5, "huge::t": 1e308, "day::t": 86401, "int::t": ' + "9" * 400 +
                    ', "nan::t": NaN, "inf::t": Infinity, "neg::t": -0.5, "bool::t": true, "text::t": "1"}')
    dropped: List[str] = []
    durations = read_durations(path, dropped)
    assert durations == {"ok::t": 2.5}
    assert sorted(dropped) == sorted(["huge::t", "day::t", "int::t", "nan::t", "inf::t", "neg::t", "bool::t",
                                      "text::t"])
    assert assign(["ok::t", "huge::t"], durations, 2)  # no OverflowError
    written = json.loads(durations_text({"ok::t": 1.0, "huge::t": 1e308, "nan::t": float("nan"), "neg::t": -1}))
    assert written["durations"] == {"ok::t": 1.0}


def test_deeply_nested_durations_are_refused_without_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ShardError) as err:
        read_durations(path)
    assert f"nests more than {MAX_DEPTH} levels" in str(err.value) and "\n" not in str(err.value)
    path.write_text(json.dumps({"tests/a.py::t[" + "[" * 100 + "]": 1.0}))  # inside a string: not nesting
    assert read_durations(path) == {"tests/a.py::t[" + "[" * 100 + "]": 1.0}


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_durations_file_that_is_not_a_file_is_refused_without_waiting(tmp_path: Path, kind: str) -> None:
    path = tmp_path / DURATIONS_FILE
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(ShardError) as err:  # a FIFO used to block here until a writer came
        read_durations(path)
    assert "cannot read the durations file" in str(err.value)
    assert ("FIFO" if kind == "fifo" else "is a folder") in str(err.value)


def test_the_fingerprint_is_of_the_set_of_ids_in_any_order() -> None:
    ids = suite(5, 3)
    assert fingerprint(ids) == fingerprint(list(reversed(ids))) == fingerprint(ids + ids[:2])
    assert fingerprint(ids) != fingerprint(ids[:-1]) and len(fingerprint(ids)) == 16
