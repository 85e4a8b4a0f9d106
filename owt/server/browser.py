"""Browser protection (SPEC §9): no code runs for a page of another origin, whatever the auth.

A server on ``127.0.0.1`` is reachable from every web page its user visits: a page can point
an ``<img>``, a ``<script>``, a form or a no-cors ``fetch`` at it, and a DNS-rebinding page
can even read the answers under its own name. CORS does not help (it only hides answers from
the page; the request, and the code in it, has already run). So, before auth and before
anything runs, a request is refused with 403 ``forbidden_origin`` (its ``check`` field names
which test failed) when:

- ``host``: its ``Host`` is not a loopback address, ``localhost``, the bound address or an
  ``--allowed-host`` (DNS rebinding: the attacker's name resolving to 127.0.0.1). On a
  wildcard address (``0.0.0.0``, ``::``) any IP literal is this server's too: rebinding needs
  a name. ``--allowed-host '*'`` turns the check off (behind a proxy that checks it).
- ``origin``: it carries an ``Origin`` that is neither this server's own (``http://`` + its
  ``Host``) nor allowed by ``--cors``.
- ``fetch-site``: its ``Sec-Fetch-Site`` is ``cross-site``, or ``same-site`` (another port of
  the same host is the same *site*), and it carries no allowed ``Origin``. This catches what
  sends no ``Origin``: ``<img>``, ``<script src>``, ``<audio>``, a link followed from another
  page.

Pages owt serves itself send ``Origin`` equal to the server's (or ``Sec-Fetch-Site:
same-origin``); an address typed into the browser sends ``Sec-Fetch-Site: none``; curl,
Node's ``fetch`` and owt's clients send neither header. All of those pass.

``OPTIONS`` never reaches the call path: a CORS preflight from an allowed origin is answered
by the CORS layer outside this one; anything else gets 204 with ``Allow`` and nothing runs.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from owt.core.call import Reply
from owt.core.errors import ForbiddenOrigin
from owt.core.logtext import field_text
from owt.server.http import send_refusal, send_reply

if TYPE_CHECKING:
    from owt.config import Settings

__all__ = ["BrowserGuard", "check_browser"]

log = logging.getLogger(__name__)

ASGIApp = Any
#: What OPTIONS answers: a call takes GET, HEAD and POST; owt's own routes also PUT, DELETE.
ALLOW_CALLS = "GET, HEAD, POST, OPTIONS"
ALLOW_OWN = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
VERDICTS = 1024  # distinct (Host, Origin, Sec-Fetch-Site) verdicts remembered


def _hostname(host: str) -> str:
    """``Host`` header value → lower-case name or address, without port or brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class BrowserGuard:
    """Pure ASGI: refuses what a browser sent on behalf of a foreign page (see the module)."""

    def __init__(self, app: ASGIApp, settings: Settings, observer: Any = None) -> None:
        self.app = app
        self.observer = observer  # owt.server.accesslog.Observer: a refusal is logged too
        bound = _hostname(settings.address)
        self.wildcard = bound in _WILDCARDS
        self.hosts = {bound, "localhost", *(_hostname(h) for h in settings.allowed_host)}
        self.any_host = "*" in settings.allowed_host
        self.origins = {o.rstrip("/").lower() for o in settings.cors}
        self.any_origin = "*" in settings.cors
        self._verdicts: dict[tuple[bytes | None, ...], ForbiddenOrigin | None] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        err = self.verdict(scope["headers"])
        if err is not None:
            client = scope.get("client") or ("?", 0)
            log.warning(
                "403 %s %s from %s: %s",
                scope.get("method"),
                field_text(scope["path"]),
                client[0],
                err.message,
            )
            await send_refusal(self.observer, scope, receive, send, err.reply())
            return
        if scope["method"] == "OPTIONS":  # never a call: nothing runs for it
            own = str(scope.get("path", "")).startswith("/_owt")
            allow = ALLOW_OWN if own else ALLOW_CALLS
            await send_reply(send, receive, Reply(204, [("allow", allow)], b""))
            return
        await self.app(scope, receive, send)

    def verdict(self, raw_headers: list[tuple[bytes, bytes]]) -> ForbiddenOrigin | None:
        """The refusal for these headers, or None; remembered by the three headers it reads
        (a client sends the same ones again and again)."""
        host = origin = site = None
        for name, value in raw_headers:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value
        key = (host, origin, site)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        named = {"host": host, "origin": origin, "sec-fetch-site": site}
        try:
            self.check({k: v.decode("latin-1") for k, v in named.items() if v is not None})
            verdict = None
        except ForbiddenOrigin as err:
            verdict = err
        if len(self._verdicts) >= VERDICTS:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def check(self, headers: dict[str, str]) -> None:
        """Raise ForbiddenOrigin when these request headers came from a foreign page."""
        host = headers.get("host")
        if host is not None and not self.own_host(host):
            raise ForbiddenOrigin(
                f"Host {host!r} is not this server's name; a page on another name may be "
                "rebinding it to this address. To serve under that name, start owt with "
                f"--allowed-host {_hostname(host) or 'NAME'}",
                check="host",
            )
        origin = headers.get("origin")
        own = origin is not None and host is not None and self.own_origin(origin, host)
        allowed = origin is not None and (own or self.allowed_origin(origin))
        if origin is not None and not allowed:
            raise ForbiddenOrigin(
                f"a page of {origin} may not call this server; to allow it, start owt with "
                f"--cors {origin}",
                check="origin",
            )
        site = headers.get("sec-fetch-site", "").lower()
        if site in ("cross-site", "same-site") and not allowed and not self.any_origin:
            raise ForbiddenOrigin(
                f"the browser says this request came from a page of another "
                f"{'site' if site == 'cross-site' else 'port or name of this site'} "
                "(Sec-Fetch-Site); only pages owt serves itself, or origins allowed with "
                "--cors, may call it",
                check="fetch-site",
            )

    def own_host(self, host: str) -> bool:
        if self.any_host:
            return True
        name = _hostname(host)
        if name in self.hosts or name.endswith(".localhost"):
            return True
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or self.wildcard)

    def own_origin(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin.strip().lower())
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()

    def allowed_origin(self, origin: str) -> bool:
        return self.any_origin or origin.strip().rstrip("/").lower() in self.origins


def check_browser(settings: Settings, headers: dict[str, str]) -> None:
    """The check alone (tests, other entry points): raises ForbiddenOrigin or returns."""
    BrowserGuard(None, settings).check({k.lower(): v for k, v in headers.items()})
