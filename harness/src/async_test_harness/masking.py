"""Secrets never shown: passwords in URLs and every form a secret takes in text.

Standard library only, so every process (the plugin, the runner, the GitHub reporting) masks the
same way.
"""

from __future__ import annotations

import functools
import re
from typing import IO, Any, Callable, Iterable, Sequence, Tuple
from urllib.parse import quote

MASK = "***"


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]*(@)")


def mask_url(url: str) -> str:
    """Hide the password of a URL; safe on text that is not a URL."""
    # The check first: the events file masks every string of every test's record, most without a URL.
    return _URL_PASSWORD.sub(r"\1" + MASK + r"\2", url) if "://" in url else url


@functools.lru_cache(maxsize=64)
def _forms(secret: str) -> Tuple[str, ...]:
    """A secret as text shows it: itself, URL-quoted, and escaped as repr() and pytest's test ids do."""
    forms = [secret, quote(secret, safe=""), repr(secret)[1:-1], secret.encode("unicode_escape").decode("ascii")]
    return tuple(sorted({f for f in forms if f}, key=len, reverse=True))


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Hide every secret in free text (error messages, logs) and the password of any URL in it.

    Apply it to text before it is escaped for a format (JSON, XML): ``mask_data`` for documents.
    """
    for secret in secrets:
        if secret:
            for form in _forms(secret):
                text = text.replace(form, MASK)
    return mask_url(text)


def mask_data(value: Any, secrets: Sequence[str]) -> Any:
    """``mask_text`` on every string (keys too) of a JSON-like value, before it is serialised.

    Masking the serialised text instead misses a secret JSON escapes (a quote, a backslash,
    anything outside ASCII).
    """
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, list):
        return [mask_data(v, secrets) for v in value]
    if isinstance(value, dict):
        return {mask_data(k, secrets): mask_data(v, secrets) for k, v in value.items()}
    return value


def mask_stream(source: IO[bytes], write: Callable[[bytes], None], secrets: Sequence[str]) -> None:
    """Copy ``source`` to ``write`` line by line with the secrets masked, until the end of ``source``.

    Whole lines only, so a secret is never split between two writes; a line still being written
    (pytest's progress dots) appears when it ends. Bytes that are not UTF-8 pass through unchanged.
    """
    for line in iter(source.readline, b""):
        text = line.decode("utf-8", "surrogateescape")
        write(mask_text(text, secrets).encode("utf-8", "surrogateescape"))
