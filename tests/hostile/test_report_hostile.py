"""The report step against results the tests forged (issue 12, items 2 and 6).

The tests run with write access to the results folder, so summary.json may hold anything: crafted
enums, markup, workflow commands, bytes that are not UTF-8, lone surrogates. Whatever it holds, the
report issues no command of the file's making, shows no markup of the file's making, names a
document that does not match docs/summary.schema.json instead of echoing it, and loses no
annotation, job summary or output over odd text.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest

from async_test_harness.github.report import report
from helpers import REPO
from reports import failure, summary, workflow_commands

SCHEMA = json.loads((REPO / "docs" / "summary.schema.json").read_text())
OUR_COMMAND = re.compile(r"::(error|warning|notice)( [^:\r\n]*)?::[^\r\n]*")
GREEN = "<h1>All green ✅</h1>"




def run(tmp_path: Path, doc, **kwargs):
    """Report on ``doc`` (a dict, or the raw bytes of summary.json); returns exit, log, job summary, outputs."""
    path = tmp_path / "summary.json"
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
           **kwargs.pop("env", {})}
    log = io.StringIO()
    code = report(path, env, log, **kwargs)
    read = lambda name: (tmp_path / name).read_bytes().decode("utf-8") if (tmp_path / name).exists() else ""  # noqa: E731
    return code, log.getvalue(), read("step.md"), read("out.txt")


def one_failure(**fields):
    doc = summary([failure("svc/tests/test_a.py::test_one")])
    doc["passes"]["unit"]["failures"][0].update(fields)
    return doc


# --------------------------------------------------------------------------- forged documents


def test_a_forged_schema_version_issues_no_workflow_command(tmp_path):
    doc = summary()
    doc["schema_version"] = "1\n::add-mask::ghs_forged\n::warning::owned\r::set-output name=x::y"
    code, log, step, outputs = run(tmp_path, doc)
    assert code != 0
    commands = workflow_commands(log)
    assert len(commands) == 1 and commands[0].startswith("::error "), commands
    assert all(OUR_COMMAND.fullmatch(line) for line in commands)
    assert "add-mask" not in log and "owned" not in log + step + outputs


FORGED_ENUMS = {
    "failure when": lambda d: d["passes"]["unit"]["failures"][0].update(when=GREEN),
    "failure kind": lambda d: d["passes"]["unit"]["failures"][0].update(kind=GREEN),
    "pass status": lambda d: d["passes"]["integration"].update(status=GREEN),
    "exit code": lambda d: d["exit"].update(code=GREEN),
    "exit code true": lambda d: d["exit"].update(code=True),  # JSON true is no exit code, although True == 1
}


@pytest.mark.parametrize("field", FORGED_ENUMS)
def test_forged_enums_are_refused_not_rendered(tmp_path, field):
    doc = one_failure()
    FORGED_ENUMS[field](doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    code, log, step, outputs = run(tmp_path, doc)
    assert code == 1, "a document that is not a summary fails the report step"
    errors = workflow_commands(log)
    assert len(errors) == 1 and errors[0].startswith("::error title=async-test%3A invalid summary.json::"), errors
    assert "does not match" in errors[0] and "summary.schema.json" in errors[0]
    for text in (log, step, outputs):
        assert "All green" not in text and "<h1>" not in text
    assert "does not match" in step, "the job summary says why it has no results"
    assert "summary-path<<" in outputs and "\n\n" in outputs.split("summary-path<<", 1)[1], "empty summary-path"


FORGED = "FORGED\n::warning::x"
INVALID = {
    "duration as text": lambda d: d["passes"]["unit"].update(duration_seconds=FORGED),
    "slowest duration as text": lambda d: d["passes"]["unit"]["slowest"][0].update(duration_seconds=FORGED),
    "slowest nodeid as object": lambda d: d["passes"]["unit"]["slowest"][0].update(nodeid={FORGED: 1}),
    "count as text": lambda d: d["passes"]["unit"]["counts"].update(total=FORGED),
    "negative count": lambda d: d["passes"]["unit"]["counts"].update(failed=-1),
    "line zero": lambda d: d["passes"]["unit"]["failures"][0].update(line=0),
    "percent above 100": lambda d: d["coverage"]["combined"].update(percent=1e9),
    "message as list": lambda d: d["passes"]["unit"]["failures"][0].update(message=[FORGED]),
    "a third pass": lambda d: d["passes"].update({FORGED: copy.deepcopy(d["passes"]["unit"])}),
    "no passes": lambda d: d.pop("passes"),
    "infrastructure error as text": lambda d: d.update(infrastructure_error=FORGED),
    "phase key with a newline": lambda d: d["phases"].update({FORGED: FORGED}),
    "failures as object": lambda d: d["passes"]["unit"].update(failures={FORGED: FORGED}),
    "document is a list": lambda d: d.clear(),  # replaced below
}


@pytest.mark.parametrize("case", INVALID)
def test_an_invalid_document_is_named_and_never_echoed(tmp_path, case):
    doc = one_failure()
    INVALID[case](doc)
    if case == "document is a list":
        doc = [FORGED]
    code, log, step, outputs = run(tmp_path, doc)
    assert code == 1
    commands = workflow_commands(log)
    assert len(commands) == 1 and commands[0].startswith("::error "), commands
    for text in (log, step, outputs):
        assert "FORGED" not in text, text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_invalid(tmp_path, constant):
    raw = json.dumps(summary()).replace('"percent": 80.0', f'"percent": {constant}', 1)
    code, log, step, _ = run(tmp_path, raw.encode())
    assert code == 1 and "does not match" in log and "NaN or Infinity" in log
    assert "nan%" not in step.lower() and "inf%" not in step.lower() and "80.0%" not in step


# --------------------------------------------------------------------------- valid documents, hostile text


MARKUP = "**bold** [link](https://evil.example) ![pixel](https://evil.example/p.png) @org/security #1 $x^2$ ~~s~~ `c`"


def test_valid_text_cannot_add_markup_mentions_or_lines(tmp_path):
    doc = summary([failure("svc/tests/test_x.py::test_" + MARKUP + " | cell \r## All green", message=MARKUP + GREEN,
                           path="svc/tests/te_st.py")])
    doc["passes"]["unit"]["warnings"] = [MARKUP + "\r## All green ✅\n<img src=x onerror=alert(1)>"]
    doc["passes"]["unit"]["slowest"][0]["nodeid"] = "svc/t.py::test_slow[" + MARKUP + "|]"
    doc["exit"]["reason"] = MARKUP
    doc["infrastructure_error"] = {"phase": MARKUP, "message": MARKUP}
    doc["coverage"]["files"] = [{"path": "svc/" + MARKUP + " | cell.py", "statements": 2, "percent": 50.0,
                                 "unit_only": [1], "integration_only": [], "both": [], "neither": [2]}]
    jsonschema.validate(doc, SCHEMA)
    code, _, step, _ = run(tmp_path, doc)
    assert "### Coverage by file" in step
    assert code == 0
    lines = re.split(r"\r\n|\r|\n", step)
    assert not [line for line in lines if "All green" in line and line.lstrip().startswith("#")], "a heading of theirs"
    assert "<h1>" not in step and "<img" not in step
    # GitHub links mentions and issue references everywhere but in code and pre elements
    prose = re.sub(r"<pre>.*?</pre>", "", step, flags=re.S)
    assert "@org" not in prose, "a mention would notify people"
    assert "#1 " not in prose, "an issue reference would cross-link"
    # markdown links, images, emphasis, math and code spans only with their punctuation escaped
    unescaped = re.compile(r"(?<![\\])(\]\(|\*\*|~~|\$x|`c`)")
    for line in lines:
        if "bold" not in line or line.startswith("<pre>"):
            continue  # our own markup, or text inside a pre block
        if line.startswith("<details>"):
            # a raw HTML block (CommonMark type 6): markdown is not parsed in it, only tags count
            assert set(re.findall(r"<(/?\w+)", line)) <= {"details", "summary", "/summary", "code", "/code"}, line
            continue
        assert not unescaped.search(line), line
    rows = [line for line in lines if line.startswith("| ")]
    assert all(line.count("|") - line.count("\\|") == rows[0].count("|") for line in rows[:3])


def test_a_file_link_is_ours_whatever_the_path(tmp_path):
    sha = "ab" * 20
    # (a path with "//" is shown unlinked: MARKUP's addresses lose theirs here)
    path = "svc/" + MARKUP.replace("https://", "") + "](javascript:alert(1)) | x.py"
    doc = summary(files=[{"path": path, "statements": 1,
                          "percent": 0.0, "unit_only": [], "integration_only": [], "both": [], "neither": [1]}])
    code, _, step, _ = run(tmp_path, doc, env={"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r",
                                               "GITHUB_SHA": sha})
    assert code == 0
    row = next(line for line in step.splitlines() if line.startswith("| [<code>svc/"))
    links = re.findall(r"(?<![\\])\]\(([^)]*)\)", row)
    assert len(links) == 1 and links[0].startswith(f"https://github.com/o/r/blob/{sha}/svc/"), row
    assert re.fullmatch(r"[A-Za-z0-9/%._~:-]+", links[0]) and "javascript:" not in links[0].replace("%3A", "")
    assert "<img" not in step and "<h1>" not in step


def _raw_summary(replace: dict[str, bytes]) -> bytes:
    raw = json.dumps(summary([failure("svc/tests/test_a.py::test_PLACEHOLDER_ID", message="PLACEHOLDER_MSG",
                                      output="PLACEHOLDER_OUT")])).encode()
    for placeholder, value in replace.items():
        raw = raw.replace(placeholder.encode(), value)
    return raw


ODD_TEXT = {
    "invalid UTF-8": {"PLACEHOLDER_MSG": b"bad \xff\xfe\xc3 bytes", "PLACEHOLDER_ID": b"id\xed\xa0\x80"},
    "lone surrogates": {"PLACEHOLDER_ID": b"id\\ud800x", "PLACEHOLDER_MSG": b"half \\udfff pair",
                        "PLACEHOLDER_OUT": b"\\ud83d"},
    "NUL": {"PLACEHOLDER_MSG": b"nul \\u0000 here", "PLACEHOLDER_OUT": b"a\\u0000b", "PLACEHOLDER_ID": b"x\\u0000y"},
    "controls": {"PLACEHOLDER_MSG": b"\\u001b[31mred\\u001b[0m \\u0008\\u000b\\u000c\\u0085\\u2028",
                 "PLACEHOLDER_ID": b"\\u001b]8;;https://evil\\u0007link"},
}


@pytest.mark.parametrize("case", ODD_TEXT)
def test_any_text_still_gives_annotations_summary_and_outputs(tmp_path, case):
    code, log, step, outputs = run(tmp_path, _raw_summary(ODD_TEXT[case]))
    assert code == 0, log
    errors = [line for line in workflow_commands(log) if line.startswith("::error ")]
    assert len(errors) == 1 and "file=svc/tests/test_a.py,line=3" in errors[0]
    assert "### Failures (1)" in step and "| unit | failed |" in step
    assert "tests<<" in outputs and "\n11\n" in outputs and "failures<<" in outputs
    for text in (log, step, outputs):
        assert "\x00" not in text and not re.search("[\ud800-\udfff]", text)
        text.encode("utf-8")  # strict: what GitHub receives is UTF-8


def test_the_report_command_survives_a_console_that_is_not_utf8(tmp_path):
    """A runner whose locale makes stdout ASCII: the report still finishes and writes everything."""
    (tmp_path / "summary.json").write_text(json.dumps(summary([failure(
        "svc/tests/test_a.py::test_ünïcödé", message="AssertionError: ✅ ≠ ❌", output="naïve output")])))
    env = dict(os.environ, PYTHONPATH=str(REPO / "harness" / "src"), PYTHONIOENCODING="ascii",
               GITHUB_STEP_SUMMARY=str(tmp_path / "step.md"), GITHUB_OUTPUT=str(tmp_path / "out.txt"))
    done = subprocess.run([sys.executable, "-m", "async_test_harness.github.report", str(tmp_path / "summary.json")],
                          env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"::error file=svc/tests/test_a.py" in done.stdout
    assert "✅" in (tmp_path / "step.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the comment's failures


class BrokenAPI:
    """A stand-in GitHub API that fails the way networks do: drops the connection, or answers garbage."""

    def __init__(self, behaviour: str) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.behaviour = behaviour
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.recv(65536)
            if self.behaviour == "garbage":
                body = b"<html>not json</html>"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            elif self.behaviour == "bad status line":
                conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
            conn.close()  # "drop": no answer at all

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("behaviour", ["drop", "garbage", "bad status line"])
def test_a_failing_api_costs_the_comment_only(tmp_path, behaviour):
    api = BrokenAPI(behaviour)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    try:
        code, log, step, outputs = run(tmp_path, summary([failure("svc/t.py::test_a")]), comment=True,
                                       token="ghs_secretTOKENvalue1234567890",
                                       env={"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "org/repo",
                                            "GITHUB_EVENT_PATH": str(event)})
    finally:
        api.close()
    assert code == 0
    assert "::notice title=async-test::Could not write the pull-request comment" in log
    assert "::error file=svc/tests/test_a.py" in log and "### Failures (1)" in step and "tests<<" in outputs
    assert "ghs_secret" not in log + step + outputs


# --------------------------------------------------------------------------- the validator is the schema


def test_the_packaged_schema_is_the_published_one():
    packaged = REPO / "harness" / "src" / "async_test_harness" / "summary" / "summary.schema.json"
    assert packaged.read_bytes() == (REPO / "docs" / "summary.schema.json").read_bytes(), (
        "copy docs/summary.schema.json to harness/src/async_test_harness/summary/summary.schema.json")


def test_the_validator_understands_every_keyword_of_the_schema():
    from async_test_harness.summary.validate import check_schema

    check_schema(SCHEMA)  # raises on a keyword it would silently ignore
    with pytest.raises(ValueError, match="pattern"):
        check_schema({"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}})


def _mutations():
    base = one_failure()
    yield "valid", base
    for name, mutate in {**FORGED_ENUMS, **INVALID}.items():
        doc = copy.deepcopy(base)
        mutate(doc)
        yield name, doc
    for path, value in [(("exit", "code"), 1.0), (("exit", "code"), 6), (("infrastructure_error",), None),
                        (("coverage", "unit"), None), (("coverage", "unit"), {"percent": 1}),
                        (("passes", "unit", "status_reason"), None), (("passes", "unit", "status_reason"), 3),
                        (("passes", "unit", "counts", "extra"), 2), (("passes", "unit", "counts", "extra"), 2.5),
                        (("environment", "python"), None), (("environment", "python"), 3.11),
                        (("tool", "name"), "other"), (("passes", "unit", "selected"), 1),
                        (("coverage", "files"), [{"path": "a.py", "statements": 1, "percent": 50,
                                                  "unit_only": [1], "integration_only": [], "both": [],
                                                  "neither": [0]}])]:
        doc = copy.deepcopy(base)
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        yield f"{'.'.join(path)}={value!r}", doc


@pytest.mark.parametrize("name, doc", list(_mutations()), ids=[n for n, _ in _mutations()])
def test_the_validator_agrees_with_jsonschema(name, doc):
    from async_test_harness.summary.validate import Invalid, load_schema, validate

    expected = jsonschema.Draft202012Validator(SCHEMA).is_valid(doc)
    try:
        validate(doc, load_schema())
        verdict = True
    except Invalid:
        verdict = False
    assert verdict == expected
