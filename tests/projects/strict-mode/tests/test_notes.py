import pytest
from sqlalchemy import text

from notes.repo import notes_tagged, save_note


@pytest.mark.asyncio
async def test_runs_on_postgresql(session):
    assert session.bind.dialect.name == "postgresql"
    assert "PostgreSQL" in await session.scalar(text("SELECT version()"))


@pytest.mark.asyncio
async def test_tags_are_shared_between_notes(session):
    assert session.bind.dialect.name == "postgresql"
    await save_note(session, "buy milk #errands #Home")
    await save_note(session, "fix the tap #home")
    assert [n.body for n in await notes_tagged(session, "home")] == ["buy milk #errands #Home", "fix the tap #home"]
    assert await session.scalar(text("SELECT count(*) FROM tags")) == 2


@pytest.mark.asyncio
async def test_tables_are_recreated_for_each_test(session):
    assert session.bind.dialect.name == "postgresql"
    assert await session.scalar(text("SELECT count(*) FROM notes")) == 0
    await save_note(session, "#one")
