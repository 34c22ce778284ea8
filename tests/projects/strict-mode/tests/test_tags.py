from unittest.mock import AsyncMock, MagicMock

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from notes.repo import extract_tags, save_note


def test_extract_tags_lowercases_and_dedupes():
    assert extract_tags("#Work then #work and #home") == ["home", "work"]


def test_no_tags():
    assert extract_tags("plain text") == []


@pytest.mark.asyncio
async def test_save_note_commits_once():
    session = MagicMock(spec=AsyncSession)
    session.scalar = AsyncMock(return_value=None)
    note = await save_note(session, "#a #b")
    assert [t.name for t in note.tags] == ["a", "b"]
    session.commit.assert_awaited_once()
