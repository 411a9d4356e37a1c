"""The command line: the same services as the window, for terminals and scripts."""

from ibdesk.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
