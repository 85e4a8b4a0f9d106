"""``python -m owt.server``: the same server and flags as ``owt serve``."""

from owt.cli import serve_main

serve_main()
