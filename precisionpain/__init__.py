"""PrecisionPain: ranked, explained treatment options for chronic pain.

Importing the package does nothing but define names: no files are read, no folders made, no logging set up.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("precisionpain")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
