"""README's commands are what a newcomer on fresh Debian types, and what CI runs (issue 24 items 7-8)."""

from __future__ import annotations

import re

from helpers import REPO

README = (REPO / "README.md").read_text()


def block_after(heading: str) -> str:
    section = README.split(f"## {heading}", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, heading
    return found.group(1)


def test_the_quick_starts_work_on_debian_and_behind_a_proxy() -> None:
    docker = block_after("Quick start: one `docker run`")
    assert docker.startswith("DOCKER_BUILDKIT=1 docker build"), "Docker < 23 needs it for RUN --mount"
    assert "ASYNC_TEST_HOST_WORKSPACE" not in docker, "the image names results from the mounted folder by itself"
    plugin = block_after("Quick start: the plugin on your machine")
    assert "python3 -m venv" in plugin and not re.search(r"\bpython -m venv", plugin), "Debian has only python3"
    assert "PIP_CERT" in README.split("## Quick start: the plugin on your machine", 1)[1].split("## ", 1)[0]


def test_readme_and_ci_set_up_a_contributors_machine_with_one_script() -> None:
    developer = block_after("Developing this repository")
    assert developer.splitlines()[0].startswith("scripts/dev-setup.sh")
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^scripts/dev-setup\.sh$", ci, re.M)
    setup = (REPO / "scripts" / "dev-setup.sh").read_text()
    for needed in ("postgresql", "chromium", "useradd", "postgres", "pip install -q uv", "requirements-dev.txt"):
        assert needed in setup, needed
    assert "apt-get" not in ci and "useradd" not in ci, ".ci/run does what README's script does, nothing more"
