"""Endpoints: code served at ``/NAME`` without resending it (SPEC §7, the ``--locked`` of §9).

Two kinds, one table of names:

- **mounted** (``--mount tts=adaptors/tts.py``): the file's ``run`` answers at ``/tts`` and
  below it. The file is checked with one ``os.stat`` (at most once a millisecond: calls
  arriving closer together share it) and re-read when it changed, so a save shows in the next
  response; a broken save answers 422 ``compile_error`` (the previous good version is never
  used in its place).
- **registered** (``PUT /_owt/endpoints/NAME`` with a call's fields): kept in memory and, with
  ``--state-dir``, in the state database (table ``endpoints``), so they survive a restart.

A request to ``/NAME`` or ``/NAME/anything`` that carries no code of its own runs the
endpoint, typed: its plain query parameters, JSON object body or form fields become the
arguments, converted by the function's type hints (:mod:`owt.core.typed`) where the call runs.
A request that does carry ``code_b64`` or ``code_sha256`` is an ordinary call on that path.

Locked servers (``--locked``) run only endpoints and code whose sha256 was given with
``--allow HASH`` or ``--allow path/to/file.py``; :meth:`Endpoints.guard` says no to the rest.
They call only ``run`` (and ``--allow-fn`` names, never ``_private`` ones), callers may not
choose cache keys, and an allowed call's cached reply is keyed by its code as well as its path.
"""

from owt.server.endpoints.endpoint import Endpoint, MountedFile, parse_mount
from owt.server.endpoints.routes import endpoint_routes
from owt.server.endpoints.table import Endpoints, check_settings

__all__ = [
    "Endpoint",
    "Endpoints",
    "MountedFile",
    "check_settings",
    "endpoint_routes",
    "parse_mount",
]
