"""``python -m owt`` is the ``owt`` command."""

from owt.cli import main

if __name__ == "__main__":  # not when a helper process re-imports the main module
    main()
