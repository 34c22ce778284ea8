from pathlib import Path

import pytest

from async_test_harness.settings import OPTIONS, SettingsError, read_pyproject_table, resolve


def test_defaults_when_nothing_is_set():
    s = resolve({}, {}, {}, {})
    assert s.kind == "all" and s.pg_port == 0 and s.loop_scope == "session"
    assert s.unit_paths == ["*/unit/*"] and s.block_db is True
    assert all(source == "default" for source in s.sources.values())


def test_precedence_cli_then_env_then_ini_then_pyproject():
    sources = dict(cli={"kind": "unit"}, env={"ASYNC_TEST_KIND": "integration"}, ini={"kind": "all"},
                   pyproject={"kind": "integration"})
    s = resolve(**sources)
    assert (s.kind, s.sources["kind"]) == ("unit", "command line --async-test-kind")
    s = resolve({}, sources["env"], sources["ini"], sources["pyproject"])
    assert (s.kind, s.sources["kind"]) == ("integration", "environment ASYNC_TEST_KIND")
    s = resolve({}, {}, {"kind": "unit"}, sources["pyproject"])
    assert s.sources["kind"] == "ini async_test_kind"
    s = resolve({}, {}, {}, {"kind": "unit"})
    assert (s.kind, s.sources["kind"]) == ("unit", "pyproject [tool.async-test]")


def test_invalid_choice_lists_the_valid_ones():
    with pytest.raises(SettingsError) as err:
        resolve({}, {"ASYNC_TEST_KIND": "smoke"}, {}, {})
    assert "ASYNC_TEST_KIND" in str(err.value) and "all, unit, integration" in str(err.value)


@pytest.mark.parametrize("port", ["abc", "70000", "-1"])
def test_bad_port_is_rejected(port):
    with pytest.raises(SettingsError, match="pg_port"):
        resolve({}, {"ASYNC_TEST_PG_PORT": port}, {}, {})


def test_lists_accept_commas_newlines_and_toml_arrays():
    assert resolve({}, {}, {"extensions": "citext,\n pgcrypto"}, {}).extensions == ["citext", "pgcrypto"]
    assert resolve({}, {}, {}, {"extensions": ["uuid-ossp"]}).extensions == ["uuid-ossp"]


def test_env_templates_are_checked():
    s = resolve({}, {}, {}, {"env": ["DB_URI=postgresql+asyncpg://{user}:{password}@{host}:{port}"]})
    assert s.env_templates() == [("DB_URI", "postgresql+asyncpg://{user}:{password}@{host}:{port}")]
    with pytest.raises(SettingsError, match=r"unknown placeholder \{pass\}"):
        resolve({}, {}, {}, {"env": ["X={pass}"]})
    with pytest.raises(SettingsError, match="NAME=template"):
        resolve({}, {}, {}, {"env": ["no equals sign"]})


def test_one_schema_source_only():
    with pytest.raises(SettingsError, match="metadata and alembic_ini"):
        resolve({}, {}, {"metadata": "a.b:Base", "alembic_ini": "alembic.ini"}, {})


def test_import_paths_must_have_a_colon():
    with pytest.raises(SettingsError, match=r"'package\.module:attribute'"):
        resolve({}, {}, {"metadata": "app.models.Base"}, {})


def test_unknown_pyproject_key_names_the_valid_ones():
    with pytest.raises(SettingsError, match="unknown key"):
        resolve({}, {}, {}, {"metdata": "x:y"})


def test_pyproject_table_is_read_with_dashes(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.async-test]\nunit-paths = ["*/fast/*"]\n')
    assert resolve({}, {}, {}, read_pyproject_table(tmp_path)).unit_paths == ["*/fast/*"]


def test_broken_pyproject_is_a_clear_error(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.async-test\n")
    with pytest.raises(SettingsError, match="Fix the TOML syntax"):
        read_pyproject_table(tmp_path)


def test_every_option_has_four_spellings():
    for opt in OPTIONS:
        assert opt.env == "ASYNC_TEST_" + opt.name.upper()
        assert opt.ini == "async_test_" + opt.name
        assert opt.cli == "--async-test-" + opt.name.replace("_", "-")
        assert opt.help


def test_describe_masks_the_database_url_password():
    s = resolve({}, {"ASYNC_TEST_DATABASE_URL": "postgresql://u:hunter2@db:5432/postgres"}, {}, {})
    assert "hunter2" not in " ".join(s.describe())


def test_an_empty_value_on_the_command_line_or_in_the_environment_unsets_the_option():
    """`ASYNC_TEST_METADATA=` used to fall through to the ini's value; in a file, an empty value still does."""
    ini = {"metadata": "app.models:Base", "timeout": "30"}
    settings = resolve({}, {"ASYNC_TEST_METADATA": ""}, ini, {})
    assert settings.metadata is None
    assert settings.sources["metadata"] == "environment ASYNC_TEST_METADATA (empty: unset)"
    assert settings.timeout == 30, "only the emptied option is affected"
    assert resolve({"timeout": ""}, {}, ini, {}).timeout == 0
    assert resolve({}, {}, {"metadata": ""}, {"metadata": "app.db:Base"}).metadata == "app.db:Base"


def test_an_emptied_variable_does_not_wake_an_unconfigured_harness():
    from async_test_harness.plugin import is_configured

    assert not is_configured(resolve({}, {"ASYNC_TEST_METADATA": ""}, {}, {}))
    assert is_configured(resolve({}, {"ASYNC_TEST_METADATA": "app.models:Base"}, {}, {}))
