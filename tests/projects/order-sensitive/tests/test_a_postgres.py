from kvstore import PostgresBackend


def test_postgresql_is_the_server(pg_pool):
    loop, pool = pg_pool
    assert "PostgreSQL" in loop.run_until_complete(pool.fetchval("SELECT version()"))


def test_set_then_get(pg_pool):
    loop, pool = pg_pool
    store = PostgresBackend(pool)
    loop.run_until_complete(store.set("a", "1"))
    assert loop.run_until_complete(store.get("a")) == "1"


def test_overwrite(pg_pool):
    loop, pool = pg_pool
    store = PostgresBackend(pool)
    loop.run_until_complete(store.set("b", "1"))
    loop.run_until_complete(store.set("b", "2"))
    assert loop.run_until_complete(store.get("b")) == "2"
