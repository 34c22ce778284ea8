"""One sticky pull-request comment, found again by a hidden marker and updated in place.

The marker is public: anyone who can comment on the pull request can write it. So the comment to
update must also be the token's own: its author is the token's user (``GET /user``), or, for an
installation token such as the workflow's GITHUB_TOKEN (which cannot call ``GET /user``),
``github-actions[bot]``, a bot, made by no other app. Comments by anyone else are left alone and,
when there is no comment of ours, a new one is created.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .markdown import COMMENT_MARKER

ACTIONS_BOT = "github-actions[bot]"  # the author of what GITHUB_TOKEN writes
ACTIONS_APP = "github-actions"


class CommentError(Exception):
    """The comment could not be written; the message is safe to print (no token, no response body)."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Author:
    """Who the token writes as."""

    login: str
    installation: bool  # an app's installation token: its comments are the app's bot's

    def wrote(self, comment: Dict[str, Any]) -> bool:
        user = comment.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("login"), str):
            return False
        if user["login"].casefold() != self.login.casefold():
            return False
        if self.installation:
            app = comment.get("performed_via_github_app")
            if user.get("type") != "Bot":
                return False
            if app is not None and (not isinstance(app, dict) or app.get("slug") != ACTIONS_APP):
                return False
        return True


class GitHubClient:
    def __init__(self, api_url: str, token: str, repository: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.repository = repository

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
            "User-Agent": "async-test-action",
        })
        where = path.split("?", 1)[0]
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode("utf-8", "replace")
                return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            raise CommentError(f"{method} {where} answered {exc.code} {exc.reason}", exc.code) from None
        except urllib.error.URLError as exc:
            raise CommentError(f"{method} {where} failed: {exc.reason}") from None
        # A dropped connection or a garbled answer surfaces as these, not as URLError.
        except (http.client.HTTPException, OSError) as exc:
            raise CommentError(f"{method} {where} failed: {type(exc).__name__}") from None
        except ValueError:
            raise CommentError(f"{method} {where} answered something that is not JSON") from None

    def author(self) -> Author:
        """Who this token writes as: its user's login, or the Actions bot for an installation token."""
        try:
            user = self._request("GET", "/user")
        except CommentError as exc:
            if exc.status == 403:  # "Resource not accessible by integration": an installation token
                return Author(ACTIONS_BOT, installation=True)
            raise
        login = user.get("login") if isinstance(user, dict) else None
        if not isinstance(login, str) or not login:
            raise CommentError("GET /user answered without a login")
        return Author(login, installation=False)

    def upsert_comment(self, number: int, body: str) -> str:
        """Update our comment carrying the marker, or create it. Returns 'created' or 'updated'."""
        me = self.author()
        page = 1
        while True:
            comments = self._request(
                "GET", f"/repos/{self.repository}/issues/{number}/comments?per_page=100&page={page}") or []
            if not isinstance(comments, list):
                raise CommentError("the comments of the pull request are not a list")
            listed: List[Dict[str, Any]] = [c for c in comments if isinstance(c, dict)]
            for comment in listed:
                body_text = comment.get("body")
                if isinstance(body_text, str) and COMMENT_MARKER in body_text and me.wrote(comment):
                    self._request("PATCH", f"/repos/{self.repository}/issues/comments/{int(comment['id'])}",
                                  {"body": body})
                    return "updated"
            if len(comments) < 100:
                break
            page += 1
        self._request("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})
        return "created"
