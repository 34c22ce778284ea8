import asyncio
from typing import Optional

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import LoginLog, User
from ..security import hash_password


class UserService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def get_by_email(self, email: str) -> Optional[User]:
        result = await self.db.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def create(self, email: str, password: str) -> User:
        user = User(email=email, password_hash=hash_password(password))
        self.db.add(user)
        await self.db.commit()
        return user

    async def deactivate_all(self) -> int:
        """Several statements in one transaction; rolls back if cancelled."""
        try:
            result = await self.db.execute(select(User.id).where(User.is_active.is_(True)))
            ids = list(result.scalars())
            for user_id in ids:
                await self.db.execute(User.__table__.update().where(User.id == user_id).values(is_active=False))
            await self.db.commit()
            return len(ids)
        except asyncio.CancelledError:
            await self.db.rollback()
            raise


class LoginLogService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def record(self, user_id: int) -> None:
        self.db.add(LoginLog(user_id=user_id))
        await self.db.commit()
