"""The `plm` command line (Typer): parse, call one library function, print.

`base` holds the app and what every command shares; the commands live in one module per
stage of the workflow, imported here in the order `plm --help` lists them.
"""

# isort: off
# Importing a module registers its commands; `plm --help` lists them in this order.
from plmkit.cli.base import app
from plmkit.cli import start, inference, training, paradigms, reporting, serving, measuring  # noqa: F401
# isort: on


def main() -> None:
    app()


__all__ = ["app", "main"]
