"""Reporting to GitHub: workflow commands, annotations, job summary, outputs, the PR comment.

Runs on the runner, outside the test container, and reads only summary.json and the coverage
files the container wrote: nothing here executes the project's code. May import: the standard
library, ``summary``, ``messages`` and ``masking`` (all standard library only).
"""
