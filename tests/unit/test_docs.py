"""The documentation that lists options must list exactly the options the code has."""

import re

from async_test_harness.settings import markdown_table
from helpers import REPO


def test_configuration_doc_lists_every_option_as_the_code_defines_it():
    text = (REPO / "docs" / "configuration.md").read_text()
    table = re.search(r"<!-- options-table:start -->\n(.*)\n<!-- options-table:end -->", text, re.S)
    assert table, "docs/configuration.md lost its options table markers"
    assert table.group(1).strip() == markdown_table().strip(), (
        "regenerate with: python -m async_test_harness.settings"
    )


def test_fixtures_doc_covers_every_public_fixture():
    text = (REPO / "docs" / "fixtures.md").read_text()
    for name in ("async_db_session", "async_engine", "db_url", "db_sync_url", "mock_db", "patch_boundary",
                 "api_client", "async_test_database", "assert_num_queries", "assert_max_queries"):
        assert f"`{name}`" in text, name


def test_container_doc_lists_every_entrypoint_variable():
    from async_test_harness.settings import container_markdown_table

    text = (REPO / "docs" / "container.md").read_text()
    table = re.search(r"<!-- container-table:start -->\n(.*)\n<!-- container-table:end -->", text, re.S)
    assert table and table.group(1).strip() == container_markdown_table().strip(), (
        "regenerate with: python -m async_test_harness.settings container"
    )
