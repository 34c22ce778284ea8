import anyio
import pytest

from ratelimit import echo_upper


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def echo_server():
    """A TCP server on loopback for the test's duration (an async fixture run by anyio)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo_upper)
        yield port
        tg.cancel_scope.cancel()
