import re
from typing import List

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notes.models import Note, Tag

TAG = re.compile(r"#(\w+)")


def extract_tags(body: str) -> List[str]:
    return sorted({match.lower() for match in TAG.findall(body)})


async def save_note(session: AsyncSession, body: str) -> Note:
    tags = []
    for name in extract_tags(body):
        tag = await session.scalar(select(Tag).where(Tag.name == name))
        tags.append(tag or Tag(name=name))
    note = Note(body=body, tags=tags)
    session.add(note)
    await session.commit()
    return note


async def notes_tagged(session: AsyncSession, name: str) -> List[Note]:
    result = await session.scalars(select(Note).join(Note.tags).where(Tag.name == name).order_by(Note.id))
    return list(result)
