from decimal import Decimal
from typing import List, Optional

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.mailer import send_welcome
from app.models import Order, User
from app.security import hash_password


class EmailTaken(Exception):
    pass


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_email(self, email: str) -> Optional[User]:
        return await self.session.scalar(select(User).where(User.email == email))

    async def register(self, email: str, password: str) -> User:
        if await self.get_by_email(email) is not None:
            raise EmailTaken(email)
        user = User(email=email, password_hash=hash_password(password))
        self.session.add(user)
        await self.session.commit()
        await send_welcome(email)
        return user

    async def place_orders(self, user: User, totals: List[Decimal]) -> Decimal:
        self.session.add_all(Order(user_id=user.id, total=total) for total in totals)
        await self.session.flush()
        spent = await self.session.scalar(select(func.sum(Order.total)).where(Order.user_id == user.id))
        return spent or Decimal("0")
