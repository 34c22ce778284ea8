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


def test_the_harnesss_servers_carry_no_ssl_in_the_engine_url_only():
    ours = DatabaseAddress("127.0.0.1", 5433, "postgres", "pw", "test_main", ssl=False)
    assert ours.async_url == "postgresql+asyncpg://postgres:pw@127.0.0.1:5433/test_main"  # db_url: plain
    assert ours.engine_url == ours.async_url + "?ssl=disable"
    assert parse_url(ours.url(options=True)) == ours  # a provision handed on keeps the option
    assert parse_url(ours.url("asyncpg", options=True)) == ours
    assert "?" not in environment_for(ours, [("X", "{async_url}")])["X"]
    assert parse_url(ours.sync_url).ssl  # a URL without the option: SSL as the driver defaults


def test_engine_url_for_adds_the_option_only_for_our_server_and_never_over_the_urls_own():
    from async_test_harness.server.address import engine_url_for

    ours = DatabaseAddress("127.0.0.1", 5433, "postgres", "pw", "test_main", ssl=False)
    assert engine_url_for("postgresql+asyncpg://u:p@127.0.0.1:5433/other", ours).endswith("/other?ssl=disable")
    with_option = engine_url_for("postgresql+asyncpg://u:p@127.0.0.1:5433/o?timeout=5", ours)
    assert with_option.endswith("?timeout=5&ssl=disable")
    assert engine_url_for("postgresql+asyncpg://u:p@127.0.0.1:5433/o?ssl=require", ours).endswith("?ssl=require")
    assert engine_url_for("postgresql+asyncpg://u:p@db.internal:5433/o", ours).endswith("/o")
    theirs = DatabaseAddress("127.0.0.1", 5433, "postgres", "pw", "test_main")
    assert engine_url_for("postgresql+asyncpg://u:p@127.0.0.1:5433/o", theirs).endswith("/o")
