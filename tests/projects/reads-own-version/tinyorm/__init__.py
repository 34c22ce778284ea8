"""tinyorm: a table, a mapper, a database (the project's version is read from its installed metadata)."""

from importlib.metadata import version

from .database import Database, async_url
from .mapper import Mapper

__version__ = version("tinyorm")  # fails unless the project itself is installed

__all__ = ["Database", "Mapper", "__version__", "async_url"]
