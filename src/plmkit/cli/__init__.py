"""The `plm` command line (Typer): parse, call one library function, print."""

from plmkit.cli.app import app, main

__all__ = ["app", "main"]
