"""``async-test combine``'s checks of its inputs and its merge of the passes (runner/combine.py).

The real merge (JUnit, coverage, counts equal to an unsharded run) is proven on real runs in
tests/integration/test_shards_and_combine.py; these are the refusals and the arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from async_test_harness.runner.combine import CombineOptions, _read_inputs, merge_pass
from async_test_harness.runner.combine_inputs import CombineError
from async_test_harness.summary.model import Summary
from reports import failure, summary


def shard_doc(index: Optional[int], total: int, collected: int = 12, **changes: Any) -> Dict[str, Any]:
    doc = summary(**changes)
    if index is not None:
        doc["shard"] = {"index": index, "total": total, "selected": 6, "collected": collected}
    return doc


def folders(tmp_path: Path, *docs: Dict[str, Any]) -> CombineOptions:
    inputs = []
    for number, doc in enumerate(docs, 1):
        folder = tmp_path / f"s{number}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(doc))
        inputs.append(str(folder))
    return CombineOptions(output=str(tmp_path / "out"), inputs=inputs)


@pytest.mark.parametrize(("docs", "why"), [
    ([(1, 3), (2, 3)], "shard(s) 3/3 are missing"),
    ([(1, 2), (1, 2)], "a shard is given twice (1/2, 1/2)"),
    ([(1, 2), (2, 3)], "split in different numbers of parts (2, 3)"),
    ([(1, 2), (None, 2)], "some of the folders are of shards and some of whole runs"),
])
def test_an_incomplete_or_mixed_set_of_shards_is_refused(tmp_path, docs, why):
    with pytest.raises(CombineError) as err:
        _read_inputs(folders(tmp_path, *(shard_doc(i, n) for i, n in docs)))
    assert why in str(err.value) and "\n" not in str(err.value)


def test_a_folder_without_a_summary_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CombineError, match="is not a finished run's results folder"):
        _read_inputs(CombineOptions(output=str(tmp_path / "out"), inputs=[str(tmp_path / "empty")]))


def test_the_shard_keys_round_trip_and_are_absent_from_an_unsharded_summary():
    doc = shard_doc(2, 3)
    doc["shards"] = [{"index": 1, "total": 3, "results_dir": "/r1", "started_at": "2026-11-30T00:00:00+00:00",
                      "duration_seconds": 1.5, "exit_code": 0, "tests": 4}]
    read = Summary.from_json(doc)
    assert read.shard is not None and (read.shard.index, read.shard.total, read.shard.collected) == (2, 3, 12)
    written = read.to_json()
    assert written["shard"] == doc["shard"] and written["shards"] == doc["shards"]
    assert list(written)[-2:] == ["shard", "shards"] and Summary.from_json(written) == read
    plain = Summary.from_json(summary())
    assert "shard" not in plain.to_json() and "shards" not in plain.to_json()


def test_merged_counts_count_a_collection_error_once_and_deselected_as_unsharded():
    broken = failure("tests/test_b.py", when="collect", message="SyntaxError")
    broken["passes"] = ["unit", "integration"]
    docs = [shard_doc(k, 2, collected=12, failures=[broken, failure(f"tests/test_a.py::t{k}")]) for k in (1, 2)]
    for doc in docs:
        unit = doc["passes"]["unit"]
        unit["counts"].update(errors=1, failed=1)  # the collection error and t{k}, as each shard counted them
        unit["deselected"] = 6 + 2  # the other shard's 6 tests, and 2 integration tests of this shard's own
    merged = merge_pass("unit", [Summary.from_json(d) for d in docs])
    assert merged.counts.errors == 1 and merged.counts.failed == 2
    assert [f.when for f in merged.failures].count("collect") == 1 and len(merged.failures) == 3
    assert merged.deselected == 16 - 12  # summed, less what each shard left to the other
    assert merged.status == "failed" and merged.exit_code == 1
