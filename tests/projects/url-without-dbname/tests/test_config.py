import os

from app.books import slugify
from app.config import Settings


def test_config_file_comes_from_pytest_env():
    assert os.environ["APP_CONFIG_FILE"] == "tests/test.env"
    assert Settings().app_name == "books-test"


def test_db_uri_names_a_server_not_a_database():
    uri = Settings().db_uri
    assert uri.startswith("postgresql+asyncpg://")
    assert uri.count("/") == 2, uri  # no /dbname: the conftest appends /test


def test_slugify():
    assert slugify("  The Left Hand of Darkness! ") == "the-left-hand-of-darkness"
