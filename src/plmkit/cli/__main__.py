"""`python -m plmkit.cli`: the same as the `plm` script."""

from plmkit.cli.app import main

main()
