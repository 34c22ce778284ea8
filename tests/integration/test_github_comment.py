"""The sticky comment against a local HTTP server standing in for the GitHub REST API."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from async_test_harness.github.markdown import COMMENT_MARKER
from async_test_harness.github.report import report
from reports import failure, summary

TOKEN = "ghs_secretTOKENvalue1234567890"


class FakeGitHub:
    """GitHub's REST API for comments, as a local server.

    ``login=None`` stands for an installation token (the workflow's GITHUB_TOKEN): ``GET /user``
    answers 403 as GitHub does, and comments it writes are github-actions[bot]'s. A login stands for
    a user's token. ``add`` puts someone else's comment on the pull request.
    """

    def __init__(self, read_only=False, login=None, app=None):
        self.comments = {}
        self.authors = {}
        self.apps = {}
        self.requests = []
        self.read_only = read_only
        self.login = login
        fake = self
        self.add("an unrelated comment", "someone")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code, body=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

            def do_GET(self):
                fake.requests.append(("GET", self.path, self.headers.get("Authorization")))
                if self.path == "/user":
                    if fake.login is None:
                        return self._reply(403, {"message": "Resource not accessible by integration"})
                    return self._reply(200, {"login": fake.login, "type": "User"})
                self._reply(200, [{"id": i, "body": b, "user": fake.authors[i],
                                   "performed_via_github_app": fake.apps.get(i)} for i, b in fake.comments.items()])

            def do_POST(self):
                fake.requests.append(("POST", self.path, self.headers.get("Authorization")))
                if fake.read_only:
                    return self._reply(403, {"message": "Resource not accessible by integration"})
                if fake.login is None:
                    new_id = fake.add(self._body()["body"], "github-actions[bot]", "Bot", app)
                else:
                    new_id = fake.add(self._body()["body"], fake.login)
                self._reply(201, {"id": new_id})

            def do_PATCH(self):
                fake.requests.append(("PATCH", self.path, self.headers.get("Authorization")))
                comment_id = int(self.path.rsplit("/", 1)[1])
                fake.comments[comment_id] = self._body()["body"]
                self._reply(200, {"id": comment_id})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, body, login, user_type="User", app=None):
        new_id = 100 + len(self.comments)
        self.comments[new_id] = body
        self.authors[new_id] = {"login": login, "type": user_type}
        if app is not None:
            self.apps[new_id] = app
        return new_id

    def ours(self):
        """The comments carrying the marker, by id."""
        return {i: b for i, b in self.comments.items() if COMMENT_MARKER in b}

    def close(self):
        self.server.shutdown()


@pytest.fixture
def github():
    fake = FakeGitHub()
    yield fake
    fake.close()


def run(tmp_path, api_url, doc):
    (tmp_path / "summary.json").write_text(json.dumps(doc))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {"GITHUB_API_URL": api_url, "GITHUB_REPOSITORY": "org/repo", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "GITHUB_OUTPUT": str(tmp_path / "out")}
    log = io.StringIO()
    report(tmp_path / "summary.json", env, log, comment=True, token=TOKEN)
    return log.getvalue() + (tmp_path / "step.md").read_text() + (tmp_path / "out").read_text()


def test_comment_is_created_once_then_updated(tmp_path, github):
    first = run(tmp_path, github.url, summary([failure("svc/t.py::test_a")]))
    assert len(github.ours()) == 1
    (comment_id, body), = github.ours().items()
    assert body.startswith(COMMENT_MARKER) and "tests failed" in body
    second = run(tmp_path, github.url, summary())
    assert list(github.ours()) == [comment_id], "updated in place, not a second comment"
    assert "✅ async-test: ok" in github.comments[comment_id] and "tests failed" not in github.comments[comment_id]
    calls = [(method, path.split("?")[0]) for method, path, _ in github.requests]
    comments = "/repos/org/repo/issues/7/comments"
    assert calls == [("GET", "/user"), ("GET", comments), ("POST", comments),
                     ("GET", "/user"), ("GET", comments), ("PATCH", f"/repos/org/repo/issues/comments/{comment_id}")]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in github.requests)
    assert TOKEN not in first + second


def test_read_only_token_gives_a_notice_not_a_failure(tmp_path):
    fake = FakeGitHub(read_only=True)
    try:
        log = run(tmp_path, fake.url, summary())
    finally:
        fake.close()
    assert "::notice title=async-test::Could not write the pull-request comment" in log
    assert "403" in log and TOKEN not in log
