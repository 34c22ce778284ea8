from typing import Dict

from app.container import Container
from app.services import AccountService, InsufficientFunds


async def open_account(container: Container, owner: str, deposit: int) -> Dict[str, object]:
    async with container.request() as scope:
        account = await scope.resolve(AccountService).open(owner, deposit)
        return {"id": account.id, "owner": account.owner, "balance": account.balance}


async def transfer(container: Container, source: str, target: str, amount: int) -> Dict[str, object]:
    try:
        async with container.request() as scope:
            await scope.resolve(AccountService).transfer(source, target, amount)
    except InsufficientFunds:
        return {"status": 409, "error": "insufficient funds"}
    return {"status": 200}


async def balance(container: Container, owner: str) -> int:
    async with container.request() as scope:
        return await scope.resolve(AccountService).balance(owner)
