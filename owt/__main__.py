"""``python -m owt`` is the ``owt`` command."""

from owt.cli import main

main()
