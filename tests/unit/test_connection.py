from async_test_harness.masking import mask_text, mask_url
from async_test_harness.server.address import DatabaseAddress, environment_for, parse_url

ADDR = DatabaseAddress("127.0.0.1", 5999, "postgres", "p@ss:w/rd", "test_main")


def test_urls_quote_the_password_and_round_trip():
    assert ADDR.async_url.startswith("postgresql+asyncpg://postgres:p%40ss%3Aw%2Frd@127.0.0.1:5999/")
    assert parse_url(ADDR.async_url) == ADDR


def test_masking_hides_passwords_in_urls_and_text():
    assert mask_url(ADDR.sync_url) == "postgresql://postgres:***@127.0.0.1:5999/test_main"
    assert "p@ss" not in mask_text(f"failed with password {ADDR.password}", [ADDR.password])


def test_common_names_are_exported():
    env = environment_for(ADDR, [])
    assert env["DATABASE_URL"] == ADDR.sync_url and env["ASYNC_DATABASE_URL"] == ADDR.async_url
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("127.0.0.1", "5999", "test_main")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        "postgres", ADDR.password, "test_main")


def test_templates_cover_real_projects_shapes():
    env = environment_for(ADDR, [
        ("DB_URI", "postgresql+asyncpg://{user}:{password}@{host}:{port}"),
        ("TEST_DATABASE_URI_ASYNC", "{async_url}"),
        ("TEST_DATABASE_URI_SYNC", "postgresql+psycopg2://{user}:{password}@{host}:{port}/{database}"),
    ])
    assert env["DB_URI"] == "postgresql+asyncpg://postgres:p@ss:w/rd@127.0.0.1:5999"
    assert env["TEST_DATABASE_URI_ASYNC"] == ADDR.async_url
    assert env["TEST_DATABASE_URI_SYNC"].endswith("@127.0.0.1:5999/test_main")
