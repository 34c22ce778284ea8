"""A tiny dependency-injection container: one engine per process, one session per request."""

from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Dict, Optional, Type, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.services import AccountService
from app.settings import LocalSettings

T = TypeVar("T")


class RequestScope:
    def __init__(self, session: AsyncSession, providers: Dict[type, Callable[[AsyncSession], object]]) -> None:
        self.session = session
        self._providers = providers

    def resolve(self, kind: Type[T]) -> T:
        return self._providers[kind](self.session)  # type: ignore[return-value]


class Container:
    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self._engine: Optional[AsyncEngine] = None
        self.providers: Dict[type, Callable[[AsyncSession], object]] = {AccountService: AccountService}

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(self.settings.db_dsn, pool_size=self.settings.db_pool_size)
        return self._engine

    @asynccontextmanager
    async def request(self) -> AsyncIterator[RequestScope]:
        """What a web framework's middleware does: a session per request, committed if it succeeded."""
        async with async_sessionmaker(self.engine, expire_on_commit=False)() as session:
            try:
                yield RequestScope(session, self.providers)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def shutdown(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
