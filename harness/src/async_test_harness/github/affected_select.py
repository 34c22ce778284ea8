"""The action's ``select`` input: ``all`` (the default) or ``affected`` (issue 26, affected.py).

With ``affected``, a pull request's run passes ``--affected`` with the folder of the base's map
(``affected-base``, repository-relative: where the baseline of the default branch is restored, see
docs/affected.md), so only the tests its change can affect run; any other event (a push to the
default branch, a schedule, a manual run) runs **everything** and records the map with
``--record-map``; the action stores it with the baseline in the cache (action.yml), and on a pull
request copies the restored one into FOLDER before the tests run. A pull request never stores
one: its map would describe a commit the next pull request is not based on.
"""

from __future__ import annotations

from typing import List, Mapping

CHOICES = ("all", "affected")
DEFAULT_BASE = ".async-test-baseline"
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target", "merge_group")


class SelectError(ValueError):
    """A bad ``select`` or ``affected-base`` input; the message says what to write instead."""


def arguments(env: Mapping[str, str]) -> List[str]:
    """The ``async-test run`` options the ``select`` input asks for on this event."""
    choice = (env.get("INPUT_SELECT") or "all").strip().lower()
    if choice not in CHOICES:
        raise SelectError(f"select: {choice[:40]!r} is not one of {', '.join(CHOICES)}; write select: affected to run "
                          "only the tests a pull request can affect, or leave it out to run every test")
    if choice == "all":
        return []
    base = (env.get("INPUT_AFFECTED_BASE") or DEFAULT_BASE).strip().replace("\\", "/")
    parts = [p for p in base.split("/") if p not in ("", ".")]
    if base.startswith(("/", "~")) or ".." in parts or not parts:
        raise SelectError(f"affected-base: {base[:80]!r} must be a folder inside the repository (the container sees "
                          f"only the repository), e.g. affected-base: {DEFAULT_BASE}")
    folder = "/workspace/" + "/".join(parts)
    if env.get("GITHUB_EVENT_NAME", "") in PULL_REQUEST_EVENTS:
        return ["--affected", folder, "--affected-missing-ok"]  # the first pull request: no baseline restored yet
    # The map stays in the results folder: the action's baseline step (on the runner) stores it with the
    # baseline in the cache; the container may not write the workspace outside its results folder.
    return ["--record-map"]
