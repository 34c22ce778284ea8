"""The per-test transaction engine: connections kept per event loop, the loop relay, per-test isolation.

Everything that makes ``async_db_session`` cheap and isolated, with no knowledge of pytest: the
plugin calls it with a URL and a loop. May import: the standard library, SQLAlchemy, asyncpg,
``server`` (names and addresses only) and the shared top-level modules (``compat`` included).
"""
