import inspect
import re
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from async_test_harness import settings as settings_module
from async_test_harness.settings import (
    CONTAINER_OPTIONS,
    OPTIONS,
    SPEC,
    ContainerSettings,
    Settings,
    SettingsError,
    container_settings,
    read_pyproject_table,
    resolve,
)


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
    from async_test_harness.plugin.hooks import is_configured

    assert not is_configured(resolve({}, {"ASYNC_TEST_METADATA": ""}, {}, {}))
    assert is_configured(resolve({}, {"ASYNC_TEST_METADATA": "app.models:Base"}, {}, {}))


@pytest.mark.parametrize("cls", [Settings, ContainerSettings])
def test_every_option_is_a_typed_field_so_mypy_checks_every_read(cls):
    """A settings read is typed: each option is a field with a concrete annotation, and no
    ``__getattr__`` turns a misspelt or untyped name into ``Any``."""
    hints = typing.get_type_hints(cls)
    options = {opt.name: opt for opt in (OPTIONS if cls is Settings else CONTAINER_OPTIONS)}
    assert [f.name for f in fields(cls) if f.name != "sources"] == list(options)
    for name, opt in options.items():
        annotation = hints[name]
        assert annotation is not typing.Any and typing.Any not in typing.get_args(annotation), name
        if opt.value_type == "choice":
            assert typing.get_origin(annotation) is typing.Literal and typing.get_args(annotation) == opt.choices
    assert "__getattr__" not in vars(cls) and not hasattr(cls, "values")
    with pytest.raises(AttributeError):
        cls().not_an_option  # noqa: B018


@pytest.mark.parametrize("cls", [Settings, ContainerSettings])
def test_every_option_has_exactly_one_validator_beside_its_field(cls):
    for f in fields(cls):
        if f.name == "sources":
            assert SPEC not in f.metadata, "sources records origins; it is not an option"
            continue
        spec = f.metadata[SPEC]
        validators = [value for value in vars(spec).values() if callable(value)]
        assert validators == [spec.validate], f"{f.name}: one validator, in its option(...)"
    # No check keyed by an option's name is left in the parsing: each lives in its field's validator.
    source = inspect.getsource(settings_module)
    assert not re.search(r"\bopt\.name\s*(==|!=|in\b|not\s+in\b)", source)


def test_validators_run_from_every_source():
    with pytest.raises(SettingsError, match=r"timeout \(from ini async_test_timeout\) must be 0 \(off\)"):
        resolve({}, {}, {"timeout": "-5"}, {})
    with pytest.raises(SettingsError, match="TCP port between 0 and 65535"):
        resolve({}, {}, {}, {"pg_port": 70000})
    with pytest.raises(SettingsError, match=r"session_dependency \(from command line"):
        resolve({"session_dependency": "nocolon"}, {}, {}, {})


def test_typed_values_and_defaults():
    s = resolve({}, {"ASYNC_TEST_PG_PORT": "5433", "ASYNC_TEST_BLOCK_DB": "no"}, {}, {"extensions": "citext"})
    assert (s.pg_port, s.block_db, s.extensions) == (5433, False, ["citext"])
    defaults = resolve({}, {}, {}, {})
    assert Settings(sources=defaults.sources) == defaults
    assert defaults.unit_paths is not Settings().unit_paths, "a list default is fresh per instance"


def test_container_settings_are_typed_and_read_from_the_environment():
    c = container_settings({"ASYNC_TEST_EXTRAS": "dev, test", "ASYNC_TEST_VENV": "/opt/venv",
                            "ASYNC_TEST_VENV_CACHE": "false"})
    assert (c.extras, c.venv, c.workspace, c.install, c.venv_cache) == (["dev", "test"], "/opt/venv", "/workspace",
                                                                        None, False)
    assert c.sources == {"install": "default", "requirements": "default", "extras": "ASYNC_TEST_EXTRAS",
                         "groups": "default", "venv": "ASYNC_TEST_VENV", "venv_cache": "ASYNC_TEST_VENV_CACHE",
                         "workspace": "default", "host_workspace": "default", "color": "default",
                         "python_downloads": "default", "install_after": "default", "install_project": "default"}
    assert (c.install_after, c.install_project) == (None, True)
    assert container_settings({"ASYNC_TEST_INSTALL_PROJECT": "false"}).install_project is False
    assert container_settings({}).venv_cache is True


def test_env_values_keep_their_commas():
    """Issue 24 item 5: a comma-separated list of URLs (one per backend) is one value, in the
    newline-separated form (the docs' form for several) and on one line where no NAME= follows."""
    urls = "TEST_DATABASE_URLS=sqlite+aiosqlite://,{async_url},postgresql+psycopg://{user}@{host}:{port}/{database}"
    s = resolve({}, {"ASYNC_TEST_ENV": f"{urls}\nOTHER=1"}, {}, {})
    assert s.env_templates() == [("TEST_DATABASE_URLS", urls.partition("=")[2]), ("OTHER", "1")]
    assert resolve({}, {"ASYNC_TEST_ENV": urls}, {}, {}).env == [urls]
    assert resolve({}, {}, {"env": f"{urls}\n  OTHER=1"}, {}).env == [urls, "OTHER=1"]
    assert resolve({}, {"ASYNC_TEST_ENV": "A={url}, B={async_url}"}, {}, {}).env == ["A={url}", "B={async_url}"]
    assert resolve({}, {}, {}, {"extensions": "a,b"}).extensions == ["a", "b"]  # other lists as before
