"""``python -m owt.server``: the same server and flags as ``owt serve``."""

from owt.cli import serve_main

if __name__ == "__main__":  # not when a helper process re-imports the main module
    serve_main()
