"""The sticky comment is ours alone (issue 12, item 3).

The marker is a public string: anyone who can comment on the pull request can post it. Only a
comment written by the token's own identity is updated: the token's user (GET /user), or, for an
installation token like GITHUB_TOKEN (GET /user answers 403), github-actions[bot]. Against a local
server standing in for the GitHub API.
"""

from __future__ import annotations

import sys

import pytest

from async_test_harness.github.markdown import COMMENT_MARKER
from helpers import REPO
from reports import failure, summary

sys.path.insert(0, str(REPO / "tests" / "integration"))
from test_github_comment import FakeGitHub, run

HIJACK = COMMENT_MARKER + "\nplease overwrite me with your results"


@pytest.fixture
def installation():
    """The workflow's GITHUB_TOKEN: an installation token."""
    fake = FakeGitHub()
    yield fake
    fake.close()


def patched(fake):
    return [path.rsplit("/", 1)[1] for method, path, _ in fake.requests if method == "PATCH"]


def test_an_outsiders_comment_with_the_marker_is_left_alone(tmp_path, installation):
    outsider = installation.add(HIJACK, "mallory")
    run(tmp_path, installation.url, summary([failure("svc/t.py::test_a")]))
    assert installation.comments[outsider] == HIJACK
    ours = [i for i, b in installation.ours().items() if i != outsider]
    assert len(ours) == 1 and installation.authors[ours[0]]["login"] == "github-actions[bot]"
    run(tmp_path, installation.url, summary())
    assert installation.comments[outsider] == HIJACK, "still not touched on the second run"
    assert patched(installation) == [str(ours[0])], "the second run updated our comment, only ours"
    assert "✅ async-test: ok" in installation.comments[ours[0]]


@pytest.mark.parametrize("login, user_type, app", [
    ("github-actions[bot]", "User", None),                       # a user cannot be a bot
    ("mallory[bot]", "Bot", {"slug": "mallory"}),                # another app's bot
    ("github-actions[bot]", "Bot", {"slug": "other-app"}),       # made through another app
    ("GitHub-Actions", "User", None),
])
def test_impostors_of_the_actions_bot_are_left_alone(tmp_path, installation, login, user_type, app):
    impostor = installation.add(HIJACK, login, user_type, app)
    run(tmp_path, installation.url, summary())
    assert installation.comments[impostor] == HIJACK and not patched(installation)
    assert len(installation.ours()) == 2, "a comment of our own was created instead"


@pytest.mark.parametrize("app", [None, {"slug": "github-actions"}])
def test_the_actions_bots_own_comment_is_updated(tmp_path, installation, app):
    ours = installation.add(COMMENT_MARKER + "\nold results", "github-actions[bot]", "Bot", app)
    run(tmp_path, installation.url, summary())
    assert patched(installation) == [str(ours)] and "✅ async-test: ok" in installation.comments[ours]


def test_a_users_token_updates_that_users_comment_only(tmp_path):
    fake = FakeGitHub(login="ci-user")
    try:
        outsider = fake.add(HIJACK, "mallory")
        bot = fake.add(HIJACK, "github-actions[bot]", "Bot")  # another workflow's comment, not this token's
        mine = fake.add(COMMENT_MARKER + "\nold results", "ci-user")
        run(tmp_path, fake.url, summary())
        assert fake.comments[outsider] == HIJACK and fake.comments[bot] == HIJACK
        assert patched(fake) == [str(mine)] and "✅ async-test: ok" in fake.comments[mine]
    finally:
        fake.close()
