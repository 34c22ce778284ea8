import tinyorm
from tinyorm import async_url


def test_version_comes_from_the_installed_metadata():
    assert tinyorm.__version__ == "0.4.1"


def test_libpq_urls_get_asyncpg():
    assert async_url("postgresql://u:p@h:5432/d") == "postgresql+asyncpg://u:p@h:5432/d"
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
