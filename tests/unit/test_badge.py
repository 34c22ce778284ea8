"""The coverage badge (github/badge.py) and the report's link to the uploaded results folder."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from async_test_harness.github.action import badge_step
from async_test_harness.github.badge import colour, coverage_badge, message, svg
from async_test_harness.github.matrix import MatrixError, plan, results_artifact
from async_test_harness.github.report import artifact_link
from reports import summary


@pytest.mark.parametrize("percent, expected", [
    (None, "lightgrey"), (0.0, "red"), (49.99, "red"), (50.0, "orange"), (69.9, "orange"), (70.0, "yellow"),
    (80.0, "yellowgreen"), (89.99, "yellowgreen"), (90.0, "green"), (100.0, "green")])
def test_colour_thresholds(percent, expected):
    assert colour(percent) == expected


def test_message_is_whole_percent_rounded_down_so_it_agrees_with_the_colour():
    assert (message(89.99), colour(89.99)) == ("89%", "yellowgreen") and message(None) == "unknown"


def test_badge_is_well_formed_svg_and_escapes_its_texts():
    text, name, value = coverage_badge(87.4)
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and (name, value) == ("yellowgreen", "87%")
    assert "#a4a61d" in text and root.get("aria-label") == "coverage: 87%"
    hostile = ET.fromstring(svg('<script>"&', "1%", "nonsense"))  # parses: no markup got through
    assert hostile.get("aria-label") == '<script>"&: 1%' and "#9f9f9f" in svg("a", "b", "nonsense")


def test_badge_step_writes_badge_svg_and_its_outputs(tmp_path):
    folder = tmp_path / "backend" / ".async-test"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary()))
    out = tmp_path / "out"
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_WORKING_DIRECTORY": "backend", "GITHUB_OUTPUT": str(out)}
    assert badge_step(env) == 0
    written = {name: value for name, _, value in re.findall(r"^(\S+)<<(\S+)\n(.*?)\n\2$", out.read_text(), re.M | re.S)}
    assert written["coverage-badge"] == str(folder / "badge.svg")
    label = ET.fromstring((folder / "badge.svg").read_text()).get("aria-label")
    percent = summary()["coverage"]["combined"]["percent"]
    assert label == f"coverage: {message(percent)}" == f"coverage: {written['badge-message']}"
    assert written["badge-color"] == colour(percent)
    (folder / "summary.json").write_text("{")
    assert badge_step(dict(env, GITHUB_OUTPUT=str(tmp_path / "out2"))) == 0  # the report step says it
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("env, expected", [
    ({}, "async-test-results"),
    ({"GITHUB_JOB": "tests"}, "async-test-results-tests"),
    ({"GITHUB_JOB": "tests", "STRATEGY_JOB_INDEX": "1", "STRATEGY_JOB_TOTAL": "3"}, "async-test-results-tests-2-of-3"),
    ({"GITHUB_JOB": "tests", "STRATEGY_JOB_INDEX": "0", "STRATEGY_JOB_TOTAL": "1"}, "async-test-results-tests"),
    ({"INPUT_RESULTS_ARTIFACT": "backend"}, "backend"), ({"INPUT_RESULTS_ARTIFACT": "False"}, "")])
def test_results_artifact_name_is_unique_per_job_and_matrix_entry(env, expected):
    assert results_artifact(env) == expected


def test_a_bad_results_artifact_name_and_a_shard_job_upload_no_results_folder():
    with pytest.raises(MatrixError, match=r"^results-artifact: 'a/b' is not an artifact name"):
        results_artifact({"INPUT_RESULTS_ARTIFACT": "a/b"})
    assert plan({"INPUT_SHARD": "1/2"}).outputs()["results-artifact"] == ""
    assert plan({"INPUT_MODE": "report", "GITHUB_JOB": "report"}).outputs()["results-artifact"] == \
        "async-test-results-report"


def test_job_summary_links_only_a_plain_https_artifact_url():
    url = "https://github.com/org/repo/actions/runs/1/artifacts/2"
    assert f"[download the artifact]({url})" in artifact_link(url)
    for bad in ("", "javascript:alert(1)", "https://x/a) [evil](https://e", "http://github.com/a", url + "\n# x"):
        assert artifact_link(bad) == ""
