"""The ``bertdistil`` command: its options (``options``), one thin handler per command over the Python API
(``commands``), and the parser and ``main`` (``parser``).

The names below are imported from their modules on first use, so importing the package is cheap.
"""
from .parser import build_parser, main

__all__ = ["build_parser", "main"]
