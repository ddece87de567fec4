"""The command line: click only. One module per command; ``app`` holds the group and ``main``."""

from selvsync.cli.app import cli, main

__all__ = ["cli", "main"]
