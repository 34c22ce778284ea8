from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, Transfer


class InsufficientFunds(Exception):
    pass


class AccountService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open(self, owner: str, deposit: int = 0) -> Account:
        account = Account(owner=owner, balance=deposit)
        self.session.add(account)
        await self.session.flush()
        return account

    async def transfer(self, source_owner: str, target_owner: str, amount: int) -> Transfer:
        source = await self.session.scalar(select(Account).where(Account.owner == source_owner).with_for_update())
        target = await self.session.scalar(select(Account).where(Account.owner == target_owner).with_for_update())
        if source is None or target is None:
            raise LookupError("unknown account")
        if source.balance < amount:
            raise InsufficientFunds(source_owner)
        source.balance -= amount
        target.balance += amount
        transfer = Transfer(source_id=source.id, target_id=target.id, amount=amount)
        self.session.add(transfer)
        await self.session.flush()
        return transfer

    async def balance(self, owner: str) -> int:
        balance = await self.session.scalar(select(Account.balance).where(Account.owner == owner))
        if balance is None:
            raise LookupError(owner)
        return balance
