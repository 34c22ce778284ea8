import os

import tinyorm

# The libpq form, as the project's CI exports it; sqlite when unset (a PostgreSQL check below catches that).
DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///./tinyorm-test.db")
VERSION = tinyorm.__version__
