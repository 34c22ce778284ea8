import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Author, Book


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


async def add_book(session: AsyncSession, author_name: str, title: str) -> Book:
    author = await session.scalar(select(Author).where(Author.name == author_name))
    if author is None:
        author = Author(name=author_name)
        session.add(author)
    book = Book(title=title, slug=slugify(title), author=author)
    session.add(book)
    await session.commit()
    return book


async def count_books(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Book)) or 0
