"""The pytest plugin: hooks, fixtures, test classification, database blocking, the events it writes.

Runs inside the project's pytest process; ``hooks`` is the module pytest loads (entry point
``async_test``). May import: pytest, pytest-asyncio, SQLAlchemy, ``server``, ``engine`` and the shared
top-level modules; never ``runner``, ``github`` or ``cli`` (the runner reads the plugin's output
files, it is not called).
"""
