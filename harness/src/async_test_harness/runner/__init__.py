"""The runner: the unit and integration passes as pytest subprocesses, coverage, the results folder.

Also the container entrypoint (``python -m async_test_harness.runner.container``), which installs
the project and hands over to the runner. It never imports pytest or the plugin: it reads what the
plugin wrote. May import: the standard library, coverage.py, ``server``, ``summary`` and the shared
top-level modules.
"""
