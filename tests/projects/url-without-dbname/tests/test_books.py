import pytest
from sqlalchemy import text

from app.books import add_book, count_books

pytestmark = pytest.mark.anyio


async def test_runs_on_postgresql_in_the_conftest_database(session):
    assert "PostgreSQL" in await session.scalar(text("SELECT version()"))
    assert await session.scalar(text("SELECT current_database()")) == "test"


async def test_add_book_commits_inside_the_outer_transaction(session):
    assert session.bind.dialect.name == "postgresql"
    book = await add_book(session, "Le Guin", "The Dispossessed")
    assert book.slug == "the-dispossessed"
    assert await count_books(session) == 1


async def test_each_test_starts_empty(session):
    assert session.bind.dialect.name == "postgresql"
    await add_book(session, "Le Guin", "A Wizard of Earthsea")
    await add_book(session, "Le Guin", "The Tombs of Atuan")
    assert await count_books(session) == 2


async def test_rollback_after_a_failed_commit_keeps_the_session_usable(session):
    assert session.bind.dialect.name == "postgresql"
    await add_book(session, "Banks", "Excession")
    with pytest.raises(Exception, match=r"duplicate key|UniqueViolation"):
        await add_book(session, "Banks", "Excession")
    await session.rollback()
    assert await count_books(session) == 1
