#!/bin/sh
# Thin on purpose: everything (user switch, dependency install, the run) is tested Python.
exec /opt/async-test/venv/bin/python -m async_test_harness.runner.container "$@"
