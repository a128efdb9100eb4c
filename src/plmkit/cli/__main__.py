"""`python -m plmkit.cli`: the same as the `plm` script."""

from plmkit.cli import main

main()
