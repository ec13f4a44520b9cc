"""``python -m movierec.cli``: the command line, as the ``movierec`` script runs it."""

from movierec.cli import main

main()
