import io

from async_test_harness.github.commands import command, escape_data, escape_property, output_block, write_raw


def test_data_and_properties_are_escaped():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert command("error", "x\n::set-env name=A::1", {"file": "a,b.py", "line": 3, "title": "t::x"}) == (
        "::error file=a%2Cb.py,line=3,title=t%3A%3Ax::x%0A::set-env name=A::1")


def test_raw_text_is_fenced_by_a_fresh_token():
    first, second = io.StringIO(), io.StringIO()
    write_raw(first, "::set-output name=x::y\n::stop-commands::guess\n")
    write_raw(second, "same")
    lines = first.getvalue().splitlines()
    token = lines[0].split("::stop-commands::")[1]
    assert len(token) == 32 and lines[-1] == f"::{token}::"
    assert token not in second.getvalue(), "a new token every time"


def test_output_delimiter_cannot_be_forged():
    block = output_block("failures", "a\nghadelimiter_x\nb")
    name_line, *body, end = block.splitlines()
    assert name_line.startswith("failures<<ghadelimiter_") and end == name_line.split("<<")[1]
    assert body == ["a", "ghadelimiter_x", "b"]
