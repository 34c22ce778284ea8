"""The PostgreSQL server and its databases: find or start a server, build the template, clone a database per run.

No pytest here: the supervisor process (``python -m async_test_harness.server.postgres``), the
runner and the CLI use this package without loading a test framework. May import: the standard
library, asyncpg, SQLAlchemy (template building only), and the shared top-level modules
(``settings``, ``masking``, ``messages``).
"""
