"""Release checks and notes, for .github/workflows/release.yml (standard library only).

    python3 scripts/release.py check vX.Y.Z   the tag names the version every file states, and the
                                               changelog has a section for it
    python3 scripts/release.py notes vX.Y.Z   that section, as the GitHub release's notes
    python3 scripts/release.py images         the published image tags, one per line (IMAGE VERSION PY PG)

One version, stated in four places (the harness package, its pyproject.toml, the Dockerfile's
label and CHANGELOG.md): a release whose files disagree would publish an image that calls itself
something else, so the check refuses it before anything is built or tagged.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
POSTGRES = {"15": "bookworm", "17": "trixie", "18": "bookworm"}


def stated_versions() -> Dict[str, str]:
    def find(path: str, pattern: str) -> str:
        match = re.search(pattern, (ROOT / path).read_text(encoding="utf-8"), re.MULTILINE)
        return match.group(1) if match else "(none)"

    return {
        "harness/src/async_test_harness/__init__.py": find("harness/src/async_test_harness/__init__.py",
                                                           r'^__version__ = "([^"]+)"'),
        "harness/pyproject.toml": find("harness/pyproject.toml", r'^version = "([^"]+)"'),
        "Dockerfile": find("Dockerfile", r'org\.opencontainers\.image\.version="([^"]+)"'),
        "CHANGELOG.md": find("CHANGELOG.md", r"^## (\d+\.\d+\.\d+)\b"),
    }


def changelog_section(version: str) -> str:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(version)}\b.*?\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else ""


def check(tag: str) -> List[str]:
    problems = []
    if not re.fullmatch(r"v\d+\.\d+\.\d+", tag):
        problems.append(f"the tag {tag!r} is not vX.Y.Z")
        return problems
    version = tag[1:]
    for where, found in stated_versions().items():
        if found != version:
            problems.append(f"{where} states version {found}, the tag {tag}")
    if not changelog_section(version):
        problems.append(f"CHANGELOG.md has no (or an empty) '## {version}' section for the release notes")
    return problems


def images(repository: str, version: str) -> List[str]:
    return [f"ghcr.io/{repository.lower()}:{version}-py{py}-pg{pg} {py} {pg} {suite}"
            for py in PYTHONS for pg, suite in POSTGRES.items()]


def main(argv: List[str]) -> int:
    if len(argv) == 2 and argv[0] == "check":
        problems = check(argv[1])
        for problem in problems:
            print(f"release: {problem}", file=sys.stderr)
        if not problems:
            print(f"release: {argv[1]} matches every stated version and has notes")
        return 1 if problems else 0
    if len(argv) == 2 and argv[0] == "notes":
        notes = changelog_section(argv[1].lstrip("v"))
        print(notes or f"No notes for {argv[1]}.")
        return 0
    if len(argv) == 3 and argv[0] == "images":
        print("\n".join(images(argv[1], argv[2].lstrip("v"))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
