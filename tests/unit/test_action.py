"""action.yml, the workflow and the action's launcher: schemas, lint, README, and what the container gets."""

import io
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from async_test_harness import phases
from async_test_harness.github.action import (
    ActionError,
    combine_step,
    docker_command,
    parse_env_lines,
    run_tests,
    tag_step,
)
from async_test_harness.github.matrix import MatrixError, combine_command, plan
from async_test_harness.github.report import main as report_main
from helpers import REPO
from reports import workflow_commands


def test_action_and_workflow_match_githubs_schemas():
    for schema, path in (("vendor.github-actions", "action.yml"),
                         ("vendor.github-workflows", ".github/workflows/ci.yml")):
        done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(REPO / path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_is_clean():
    actionlint = shutil.which("actionlint") or os.path.join(os.path.dirname(sys.executable), "actionlint")
    done = subprocess.run([actionlint, str(REPO / ".github/workflows/ci.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_pins_actions_by_sha_and_keeps_permissions_minimal():
    workflow = (REPO / ".github/workflows/ci.yml").read_text()
    for ref in re.findall(r"uses: ([^\s#]+)", workflow):
        assert ref == "./" or re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", ref), ref
    assert yaml.safe_load(workflow)["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", ["action.yml", "docs/examples/matrix.yml"])
def test_action_and_examples_pin_actions_by_sha_with_the_version_beside_it(path):
    """A tag can be moved to other code; a SHA cannot. The comment says which release it is."""
    text = (REPO / path).read_text()
    refs = re.findall(r"uses: ([^\s#]+)(.*)", text)
    assert refs
    for ref, rest in refs:
        if ref == "org/async-test-action@v1":  # this action, as README shows it
            continue
        assert re.fullmatch(r"[\w-]+/[\w-]+(/[\w-]+)*@[0-9a-f]{40}", ref), ref  # a subpath: actions/cache/save
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", rest), f"{ref}: say the version, e.g. '  # v4.6.2'"


def test_readme_tables_match_action_yml():
    expected = subprocess.run([sys.executable, str(REPO / "scripts/action-docs.py")], capture_output=True,
                              text=True, check=True).stdout.strip()
    readme = (REPO / "README.md").read_text()
    found = re.search(r"<!-- action-tables:start -->\n(.*)\n<!-- action-tables:end -->", readme, re.S)
    assert found and found.group(1).strip() == expected, "regenerate with: python scripts/action-docs.py"


def test_every_input_reaches_the_code():
    action = (REPO / "action.yml").read_text()
    for name in yaml.safe_load(action)["inputs"]:
        assert f"inputs.{name}" in action, f"input {name} is declared but never used"


ENV = {"GITHUB_WORKSPACE": "/ws", "GITHUB_TOKEN": "ghs_secret", "INPUT_WORKING_DIRECTORY": "backend",
       "INPUT_METADATA": "app.models:Base", "INPUT_FAIL_UNDER": "80", "INPUT_INTEGRATION_ARGS": "-n auto",
       "INPUT_PYTEST_ARGS": "-k 'not slow'", "INPUT_ENV": "API_URL=http://x\n# comment\nFLAG=1"}


def test_docker_command_carries_only_what_the_workflow_chose():
    cmd = docker_command(ENV, "img:1", "/cache-dir")
    joined = " ".join(cmd)
    assert "ghs_secret" not in joined and "GITHUB_" not in joined and "RUNNER_TEMP" not in joined
    assert cmd[:2] == ["docker", "run"] and "/ws:/workspace" in cmd and "/cache-dir:/cache" in cmd
    assert "ASYNC_TEST_METADATA=app.models:Base" in cmd and "API_URL=http://x" in cmd and "FLAG=1" in cmd
    assert cmd[cmd.index("img:1") + 1] == "backend"
    assert cmd[-3:] == ["--", "-k", "not slow"] and "--integration-args" in cmd


def test_hosts_input_maps_service_names_to_the_containers_loopback():
    cmd = docker_command(dict(ENV, INPUT_HOSTS="postgres, db\nredis"), "img:1", "/cache-dir")
    pairs = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--add-host"]
    assert pairs == ["postgres:127.0.0.1", "db:127.0.0.1", "redis:127.0.0.1"]
    assert cmd.index("--add-host") < cmd.index("img:1")  # docker options, not arguments of the tests
    with pytest.raises(ActionError, match="not a host name"):
        docker_command(dict(ENV, INPUT_HOSTS="db --privileged"), "img:1", "/cache-dir")


@pytest.mark.parametrize("line, message", [("GITHUB_TOKEN=x", "never passed"), ("RUNNER_TEMP=/t", "never passed"),
                                           ("no equals", "not NAME=VALUE"), ("1BAD=x", "not NAME=VALUE")])
def test_env_input_rejects_runner_variables_and_bad_lines(line, message):
    with pytest.raises(ActionError, match=message):
        parse_env_lines(line)


def fake_docker(tmp_path, monkeypatch, script):
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nenv > \"$(dirname \"$0\")/env.txt\"\n" + script)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("HOME", str(tmp_path))
    return fake


def test_test_step_fences_the_containers_output_and_records_its_exit_code(tmp_path, monkeypatch):
    fake = fake_docker(tmp_path, monkeypatch, "echo '::set-env name=PATH::/evil'\necho '::error::on stderr' >&2\n"
                                              "printf 'no newline'\nexit 3\n")
    out_file = tmp_path / "out"
    env = dict(ENV, ASYNC_TEST_IMAGE="img:1", GITHUB_OUTPUT=str(out_file))
    buffer = io.StringIO()
    assert run_tests(env, out=buffer) == 0
    log = buffer.getvalue()
    lines = log.splitlines()
    token = lines[0].split("::stop-commands::")[1]
    assert lines[-1] == f"::{token}::" and lines[-2] == "no newline"
    assert "::set-env name=PATH::/evil" in log and "::error::on stderr" in log  # stderr too, fenced
    assert workflow_commands(log) == []
    assert "ghs_secret" not in (fake.parent / "env.txt").read_text()
    assert re.search(r"exit-code<<(\S+)\n3\n\1\n", out_file.read_text())


def test_test_step_groups_each_phase_with_our_titles_and_keeps_the_results_visible(tmp_path, monkeypatch):
    script = "".join(f"echo '{line}'\n" for line in (
        phases.line(phases.INSTALL), "async-test: dependencies installed in 1.0s", phases.line(phases.UNIT),
        "::error::from a test", phases.line(phases.SUMMARY), "result: tests failed (exit 1)")) + "exit 1\n"
    fake_docker(tmp_path, monkeypatch, script)
    buffer = io.StringIO()
    assert run_tests(dict(ENV, ASYNC_TEST_IMAGE="img:1"), out=buffer) == 0
    log = buffer.getvalue()
    assert workflow_commands(log) == [f"::group::{phases.GROUPS[phases.INSTALL]}", "::endgroup::",
                                      f"::group::{phases.GROUPS[phases.UNIT]}", "::endgroup::"]
    assert "result: tests failed (exit 1)" in log.split("::endgroup::")[-1]


def test_test_step_says_which_phase_a_run_stopped_in(tmp_path, monkeypatch):
    fake_docker(tmp_path, monkeypatch, f"echo '{phases.line(phases.INSTALL)}'\necho 'uv: no such package'\nexit 6\n")
    buffer = io.StringIO()
    assert run_tests(dict(ENV, ASYNC_TEST_IMAGE="img:1"), out=buffer) == 0
    last = buffer.getvalue().splitlines()[-1]
    title = phases.GROUPS[phases.INSTALL]
    assert last == f"async-test exited 6 during \"{title}\": expand that group above for its output"


def test_colour_and_the_host_path_reach_the_container_not_the_tests_force_color():
    cmd = docker_command(dict(ENV, GITHUB_ACTIONS="true", INPUT_ENV="ASYNC_TEST_COLOR=no"), "img:1", "/cache-dir")
    values = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-e"]
    assert "ASYNC_TEST_HOST_WORKSPACE=/ws" in values and not any(v.startswith("FORCE_COLOR") for v in values)
    # ours first, the env input's after it: docker keeps the last, so the workflow can switch colour off
    assert values.index("ASYNC_TEST_COLOR=yes") < values.index("ASYNC_TEST_COLOR=no")
    assert "ASYNC_TEST_COLOR=yes" not in docker_command(ENV, "img:1", "/cache-dir")  # not in GitHub Actions


@pytest.mark.parametrize("value", ["/home/runner/results", "~/results", "../results", "backend/../../results"])
def test_results_dir_outside_the_repository_is_an_input_error(value):
    """An absolute results-dir was written inside the container and lost with it; so was one leaving the repository."""
    with pytest.raises(ActionError, match=r"^results-dir: .* give a path (relative to|inside) ") as raised:
        docker_command(dict(ENV, INPUT_RESULTS_DIR=value), "img:1", "/cache-dir")
    assert "\n" not in str(raised.value)


def test_results_dir_relative_to_the_repository_is_mounted_under_the_workspace():
    cmd = docker_command(dict(ENV, INPUT_RESULTS_DIR="./backend//test-results/"), "img:1", "/cache-dir")
    assert cmd[cmd.index("--results-dir") + 1] == "/workspace/backend/test-results"


@pytest.mark.parametrize("name", ["pytest-args", "unit-args", "integration-args"])
def test_args_inputs_that_are_not_shell_syntax_are_input_errors(name):
    """`pytest-args: it's` ended the step with shlex's traceback (unit-args failed later, in the container)."""
    env = dict(ENV, **{"INPUT_" + name.upper().replace("-", "_"): "-k it's"})
    with pytest.raises(ActionError, match=rf"^{name}: .* is not valid shell syntax \(No closing quotation\)"):
        docker_command(env, "img:1", "/cache-dir")


# --- a matrix of shard jobs and one report job (github/matrix.py) ---

@pytest.mark.parametrize("shard, mode, message", [
    ("4/3", "", r"^shard: '4/3' is not K/N, .* shard: \$\{\{ matrix.shard \}\}/3"),
    ("a/b", "", "is not K/N"), ("0/3", "test", "is not K/N"),
    ("1/3", "report", r"^shard: '1/3' was given with mode: report"),
    ("", "reprot", r"^mode: 'reprot' is not test or report\."),
])
def test_bad_shard_or_mode_is_one_paragraph_naming_the_fix(shard, mode, message):
    with pytest.raises(MatrixError, match=message) as raised:
        plan({"INPUT_SHARD": shard, "INPUT_MODE": mode})
    assert "\n" not in str(raised.value)


def test_tag_step_refuses_a_bad_shard_first_with_an_error_annotation(tmp_path):
    buffer = io.StringIO()
    assert tag_step({"INPUT_SHARD": "3/2", "GITHUB_OUTPUT": str(tmp_path / "out")}, out=buffer) == 2
    assert buffer.getvalue().startswith("::error title=async-test%3A input::shard: '3/2' is not K/N")


def test_a_shard_job_names_its_artifact_and_passes_the_shard_to_the_container(tmp_path):
    job = plan({"INPUT_SHARD": " 2/3 "})
    assert job.shard_job and job.outputs() == {"mode": "test", "shard-job": "true",
                                               "artifact": "async-test-shard-2-of-3",
                                               "shards-dir": ".async-test-shards", "results-artifact": ""}
    cmd = docker_command(dict(ENV, INPUT_SHARD="2/3"), "img:1", "/cache-dir")
    assert cmd[cmd.index("--shard") + 1] == "2/3" and cmd.index("--shard") < cmd.index("--")
    assert "--shard" not in docker_command(ENV, "img:1", "/cache-dir")
    assert not plan({}).shard_job and plan({"INPUT_MODE": "report"}).outputs()["artifact"] == ""


def test_tag_step_outputs_the_results_folder_and_the_artifact(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    env = {"INPUT_SHARD": "1/2", "INPUT_WORKING_DIRECTORY": "./backend/", "GITHUB_OUTPUT": str(out),
           "GITHUB_WORKSPACE": str(tmp_path), "GITHUB_ACTION_PATH": str(REPO)}
    assert tag_step(env, out=io.StringIO()) == 0
    text = out.read_text()
    for name, value in (("results", "backend/.async-test"), ("artifact", "async-test-shard-1-of-2"),
                        ("shard-job", "true"), ("mode", "test")):
        assert re.search(rf"^{name}<<(\S+)\n{re.escape(value)}\n\1$", text, re.M), (name, text)


def shards_in(tmp_path, *names):
    for name in names:
        (tmp_path / ".async-test-shards" / name).mkdir(parents=True)
    return {"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_TOKEN": "ghs_secret", "INPUT_WORKING_DIRECTORY": "backend",
            "INPUT_FAIL_UNDER": "85"}


def test_combine_command_merges_every_downloaded_shard_in_the_image_without_the_token(tmp_path):
    env = shards_in(tmp_path, "async-test-shard-10-of-10", "async-test-shard-2-of-10", "not-ours")
    cmd = combine_command(env, "img:1", "backend/.async-test")
    assert cmd[:4] == ["docker", "run", "--rm", "-v"] and f"{tmp_path}:/workspace" in cmd
    start = cmd.index("img:1")
    assert cmd[start:start + 5] == ["img:1", "combine", "/workspace/backend/.async-test",
                                    "/workspace/.async-test-shards/async-test-shard-2-of-10",
                                    "/workspace/.async-test-shards/async-test-shard-10-of-10"]
    assert cmd[start + 5:] == ["--project", "/workspace/backend", "--html", "--fail-under", "85"]
    assert "--html" not in combine_command(dict(env, INPUT_RESULTS_ARTIFACT="false"), "img:1", "r")
    assert "ghs_secret" not in " ".join(cmd) and "GITHUB_" not in " ".join(cmd)


def test_report_mode_without_shard_results_says_what_the_workflow_lacks(tmp_path):
    with pytest.raises(MatrixError, match=r"^mode: report found no shard results in .* needs: .* if: always\(\)"):
        combine_command({"GITHUB_WORKSPACE": str(tmp_path)}, "img:1", ".async-test")
    out = tmp_path / "out"
    buffer = io.StringIO()
    assert combine_step({"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_OUTPUT": str(out)}, out=buffer) == 0
    assert buffer.getvalue().startswith("::error title=async-test%3A report::mode: report found no shard results")
    assert re.search(r"exit-code<<(\S+)\n2\n\1", out.read_text())


def test_combine_step_fences_the_containers_output_and_records_combines_exit_code(tmp_path, monkeypatch):
    fake = fake_docker(tmp_path, monkeypatch, "echo \"$@\" > \"$(dirname \"$0\")/args.txt\"\n"
                                              "echo '::set-env name=PATH::/evil'\nexit 4\n")
    env = dict(shards_in(tmp_path, "async-test-shard-1-of-1"), ASYNC_TEST_IMAGE="img:1",
               GITHUB_OUTPUT=str(tmp_path / "out"))
    buffer = io.StringIO()
    assert combine_step(env, out=buffer) == 0
    assert workflow_commands(buffer.getvalue()) == []
    assert re.search(r"exit-code<<(\S+)\n4\n\1", (tmp_path / "out").read_text())
    assert " combine /workspace/backend/.async-test " in (fake.parent / "args.txt").read_text()
    assert "ghs_secret" not in (fake.parent / "env.txt").read_text()


def test_a_shard_jobs_report_step_sets_outputs_and_writes_nothing_people_read(tmp_path, monkeypatch, capsys):
    import json

    from reports import failure
    from reports import summary as a_summary

    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(a_summary(failures=[failure("svc/tests/test_a.py::test_x")])))
    step_summary, out = tmp_path / "step-summary.md", tmp_path / "out"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert report_main([str(summary), "--outputs-only", "--comment"]) == 0
    assert capsys.readouterr().out == "" and not step_summary.exists()
    assert re.search(r"^tests<<", out.read_text(), re.M)
    (tmp_path / "bad.json").write_text("{")
    assert report_main([str(tmp_path / "bad.json"), "--outputs-only"]) == 0  # said once, by the report job
    assert capsys.readouterr().out == "" and not step_summary.exists()


def test_docs_show_the_tested_matrix_workflow_as_it_is():
    """docs/action.md's matrix workflow is docs/examples/matrix.yml, which tests/e2e/test_act_matrix.py runs."""
    example = (REPO / "docs" / "examples" / "matrix.yml").read_text()
    docs = (REPO / "docs" / "action.md").read_text()
    found = re.search(r"<!-- matrix-example:start -->\n```yaml\n(.*?)```\n<!-- matrix-example:end -->", docs, re.S)
    assert found and found.group(1) == example, "copy docs/examples/matrix.yml into docs/action.md"
    assert "docs/action.md#sharding-across-a-matrix" in (REPO / "README.md").read_text()


def test_matrix_example_is_a_valid_workflow_that_actionlint_accepts():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(REPO / "docs/examples/matrix.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    actionlint = shutil.which("actionlint") or os.path.join(os.path.dirname(sys.executable), "actionlint")
    done = subprocess.run([actionlint, str(REPO / "docs/examples/matrix.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("command", ["combine", "html"])
def test_the_image_runs_combine_and_html_as_the_workspace_owner_without_installing(tmp_path, monkeypatch, command):
    """The report job's combine writes into the workspace: as its owner, like a run, not as root."""
    from async_test_harness.runner import container

    owner, executed = [], []
    monkeypatch.setattr(container, "become_workspace_owner", lambda workspace: owner.append(workspace))

    def execvp(file, args):
        executed.append(args)
        raise SystemExit(0)  # exec does not return

    monkeypatch.setattr(container.os, "execvp", execvp)
    monkeypatch.setattr(container, "install", lambda *a: pytest.fail("combine installs nothing"))
    monkeypatch.setenv("ASYNC_TEST_WORKSPACE", str(tmp_path))
    with pytest.raises(SystemExit):
        container.main([command, "/workspace/out", "/workspace/in"])
    assert owner == [tmp_path] and executed == [["async-test", command, "/workspace/out", "/workspace/in"]]
