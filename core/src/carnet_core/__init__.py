"""Carnet core: the public API that plugins may import."""

from carnet_core.hookspecs import hookimpl
from carnet_core.version import __version__

__all__ = ["__version__", "hookimpl"]
