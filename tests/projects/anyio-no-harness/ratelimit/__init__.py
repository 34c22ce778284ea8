"""An async token bucket and a tiny line-echo server, on anyio (no database anywhere)."""

from typing import Callable, Optional

import anyio
from anyio.abc import SocketStream


class TokenBucket:
    def __init__(self, rate: float, capacity: int, clock: Optional[Callable[[], float]] = None) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)
        self.clock = clock or anyio.current_time
        self.updated = self.clock()
        self._lock = anyio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_acquire(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        async with self._lock:
            while not self.try_acquire():
                await anyio.sleep((1 - self.tokens) / self.rate)


async def echo_upper(stream: SocketStream) -> None:
    async with stream:
        async for chunk in stream:
            await stream.send(chunk.upper())
