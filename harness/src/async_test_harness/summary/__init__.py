"""summary.json, the contract between the runner and everything that reports on a run.

Standard library only, so the GitHub reporting (which runs outside the test container) can read it
without the harness's dependencies. May import: the standard library and ``messages``.
"""
