"""One sticky pull-request comment, found again by a hidden marker and updated in place."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

from .markdown import COMMENT_MARKER


class CommentError(Exception):
    """The comment could not be written; the message is safe to print (no token)."""


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
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            raise CommentError(f"{method} {path} answered {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise CommentError(f"{method} {path} failed: {exc.reason}") from None

    def upsert_comment(self, number: int, body: str) -> str:
        """Update the comment carrying the marker, or create it. Returns 'created' or 'updated'."""
        page = 1
        while True:
            comments: List[Dict[str, Any]] = self._request(
                "GET", f"/repos/{self.repository}/issues/{number}/comments?per_page=100&page={page}") or []
            for comment in comments:
                if COMMENT_MARKER in (comment.get("body") or ""):
                    self._request("PATCH", f"/repos/{self.repository}/issues/comments/{comment['id']}",
                                  {"body": body})
                    return "updated"
            if len(comments) < 100:
                break
            page += 1
        self._request("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})
        return "created"
