"""The action's image: the Python and PostgreSQL the project asks for, or a clear input error."""


import pytest

from async_test_harness.github.image_choice import SUPPORTED_PYTHONS, ChoiceError, allowed, choose


@pytest.mark.parametrize(("spec", "expected"), [
    (">=3.11", ["3.11", "3.12", "3.13"]),
    (">=3.10,<3.13", ["3.10", "3.11", "3.12"]),
    ("<3.12", ["3.10", "3.11"]),
    ("==3.11.*", ["3.11"]),
    ("==3.12", ["3.12"]),
    ("~=3.11", ["3.11", "3.12", "3.13"]),
    ("~=3.11.2", ["3.11"]),
    (">=3.11.4", ["3.11", "3.12", "3.13"]),
    ("<=3.11", ["3.10", "3.11"]),
    ("!=3.12.*, >=3.10", ["3.10", "3.11", "3.13"]),
    ("<3.12.1", ["3.10", "3.11", "3.12"]),
    (">=3.8", list(SUPPORTED_PYTHONS)),
    ("<3.10", []),
])
def test_requires_python_is_read_as_pep_440_over_the_supported_pythons(spec, expected):
    assert allowed(spec) == expected




def test_python_version_file_then_requires_python_then_the_default(tmp_path):
    assert choose(tmp_path).python == "3.11" and "names none" in choose(tmp_path).python_from
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.11,<3.13"\n')
    picked = choose(tmp_path)
    assert (picked.python, picked.base) == ("3.12", "python:3.12-slim-bookworm")  # the newest allowed
    (tmp_path / ".python-version").write_text("# pinned\n3.13.1\n")
    assert choose(tmp_path).python == "3.13" and choose(tmp_path).python_from == ".python-version"
    assert choose(tmp_path, python="3.10").python == "3.10", "the input wins over the project"


def test_postgres_17_builds_on_trixie_and_18_on_the_wheel(tmp_path):
    assert choose(tmp_path, postgres="17").base == "python:3.11-slim-trixie"
    eighteen = choose(tmp_path, postgres="18", build_tools=True)
    assert eighteen.base == "python:3.11-slim-bookworm"
    assert eighteen.build_args == ["BASE_IMAGE=python:3.11-slim-bookworm", "PG_MAJOR=18", "BUILD_TOOLS=true"]
    assert choose(tmp_path, postgres="17", base="my/base:1").base == "my/base:1"


@pytest.mark.parametrize(("files", "inputs", "words"), [
    ({"pyproject.toml": '[project]\nrequires-python = ">=3.14"\n'}, {}, "allows none of the Pythons"),
    ({".python-version": "pypy3.10\n"}, {}, "names no CPython version"),
    ({".python-version": "3.9\n"}, {}, "asks for Python 3.9"),
    ({}, {"python": "2.7"}, "asks for Python 2.7"),
    ({}, {"postgres": "16"}, "PostgreSQL 15, 17, 18"),
    ({"pyproject.toml": '[project]\nrequires-python = "python3"\n'}, {}, "is not a version clause"),
])
def test_what_cannot_be_built_is_an_input_error_that_says_what_to_set(tmp_path, files, inputs, words):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ChoiceError) as err:
        choose(tmp_path, **inputs)
    assert words in str(err.value)
