"""synctool: pull data from a production Django site into another database."""

from synctool.hookspecs import hookimpl

__version__ = "2.0.0.dev0"
__all__ = ["__version__", "hookimpl"]
