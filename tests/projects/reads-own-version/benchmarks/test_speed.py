"""Run by hand with pytest-benchmark, which CI does not install: collecting this folder fails, so CI runs tests/."""

import pytest_benchmark  # noqa: F401
from tinyorm import async_url


def test_async_url_speed(benchmark):
    benchmark(async_url, "postgresql://u@h/d")
