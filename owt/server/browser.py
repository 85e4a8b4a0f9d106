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
- ``referer`` / ``browser``, for a request that may run code and carries neither ``Origin``
  nor ``Sec-Fetch-Site``: browsers send fetch metadata only to secure contexts (``https://``
  and loopback addresses), so an ``<img>`` of any page pointed at ``http://owt.lan:9876/...``
  (a name allowed with ``--allowed-host``, or a LAN address) arrives bare. Such a request is
  refused when its ``Referer`` names a page of another origin, or, on an address that is no
  secure context, when it has no ``Referer`` and its ``User-Agent`` is a browser's
  (``Mozilla/...``, which every browser sends and no page can change without a CORS
  preflight) and it carries no token (``Authorization: Bearer``, ``?token=``: no page of
  another site knows it): a page can hide its address (``referrerpolicy="no-referrer"``),
  not its browser.

Pages owt serves itself send ``Origin`` equal to the server's (or ``Sec-Fetch-Site:
same-origin``, or on an address that is no secure context a ``Referer`` of the server's own);
an address typed into the browser sends ``Sec-Fetch-Site: none`` (on loopback); curl, Node's
``fetch`` and owt's clients send none of these headers. All of those pass. The playground and
the other ``GET /_owt/`` pages run no code: a browser on an address that is no secure context
may open them as typed (their CSP keeps them out of other pages' frames).

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

__all__ = ["BrowserGuard", "check_browser", "check_cors"]

log = logging.getLogger(__name__)

ASGIApp = Any
#: What OPTIONS answers: a call takes GET, HEAD and POST; owt's own routes also PUT, DELETE.
ALLOW_CALLS = "GET, HEAD, POST, OPTIONS"
ALLOW_OWN = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_BROWSER = b"Mozilla/"  # how every browser's User-Agent starts
VERDICTS = 1024  # distinct (Host, Origin, Sec-Fetch-Site) verdicts remembered


def _origin_of(referer: bytes) -> str:
    """The origin (``scheme://host:port``) of the page a ``Referer`` names."""
    parts = urlsplit(referer.decode("latin-1").strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


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
        self.tokens = bool(settings.token)  # then auth judges any credential a request has
        self._verdicts: dict[tuple[bytes | None, ...], ForbiddenOrigin | None] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # owt serves none: nothing behind may see one
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        runs_code = not scope["path"].startswith("/_owt")
        token = self.tokens and b"token=" in scope.get("query_string", b"")
        err = self.verdict(scope["headers"], runs_code, token)
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

    def verdict(
        self, raw_headers: list[tuple[bytes, bytes]], runs_code: bool = True, token: bool = False
    ) -> ForbiddenOrigin | None:
        """The refusal for these headers, or None; remembered by the three headers it reads
        (a client sends the same ones again and again). ``runs_code``: the request is a
        call, not one of owt's own pages; ``token``: its query holds ``token=`` on a server
        with ``--token`` (which auth then checks)."""
        host = origin = site = agent = referer = None
        for name, value in raw_headers:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value
            elif name == b"user-agent":
                agent = value
            elif name == b"referer":
                referer = value
            elif name == b"authorization":
                token = token or value[:7].lower() == b"bearer "
        key = (host, origin, site)
        try:
            verdict = self._verdicts[key]
        except KeyError:
            verdict = self._judge(key)
        if verdict is not None and verdict.extra.get("check") == "fetch-site" and referer:
            # An <img> or <audio> of an allowed origin's page sends no Origin; its Referer,
            # which no other page can forge, says whose it is.
            return None if self.allowed_origin(_origin_of(referer)) else verdict
        if verdict is None and runs_code and origin is None and site is None:
            browser = agent is not None and agent.startswith(_BROWSER) and not token
            if referer is not None or (browser and not self._secure(host)):
                return self._unmarked(host, referer)
        return verdict

    def _secure(self, host: bytes | None) -> bool:
        """Whether browsers send fetch metadata to this ``Host``: a loopback address or
        ``localhost`` (``https://`` is a proxy's, in front of owt)."""
        name = _hostname(host.decode("latin-1")) if host is not None else ""
        ip = _ip(name)
        return name == "localhost" or name.endswith(".localhost") or bool(ip and ip.is_loopback)

    def _judge(self, key: tuple[bytes | None, ...]) -> ForbiddenOrigin | None:
        host, origin, site = key
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
            if origin.strip().lower() == "null":  # whose page it is, nobody can tell
                raise ForbiddenOrigin(
                    "a page with no origin of its own (Origin: null: a sandboxed frame, a "
                    "file:// page, a redirect from another site) may not call this server, "
                    "since any site can make one; serve the page from owt itself, or from an "
                    "origin you allow with --cors",
                    check="origin",
                )
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
                "--cors, may call it (an <img> or <audio> of an allowed page sends no Origin: "
                'give it crossorigin="anonymous", or let it send its Referer)',
                check="fetch-site",
            )

    def _unmarked(self, host: bytes | None, referer: bytes | None) -> ForbiddenOrigin | None:
        """A browser's request without fetch metadata (see the module): its ``Referer``
        must name this server's page, or a page of an origin allowed with ``--cors``."""
        if referer is None:
            way = (
                "add ?token=TOKEN to the URL"
                if self.tokens
                else "start owt with --token and add ?token=TOKEN to the URL"
            )
            return ForbiddenOrigin(
                "a browser sent this request without Origin, Sec-Fetch-Site or Referer (on an "
                "http:// address other than loopback, browsers leave them out), so owt cannot "
                "tell it from another site's page. Open it on a loopback address "
                f"(http://127.0.0.1:PORT/...), or {way}; a page owt serves (the playground "
                "at /_owt/) may call it too. (A program whose User-Agent starts with Mozilla/, "
                "as PowerShell's does, is taken for a browser: give it another User-Agent.)",
                check="browser",
            )
        page = _origin_of(referer)
        own = host is not None and self.own_origin(page, host.decode("latin-1"))
        if own or self.allowed_origin(page):
            return None
        return ForbiddenOrigin(
            f"a page of {page} sent this request (its Referer), and only pages owt serves "
            f"itself, or origins allowed with --cors, may call it",
            check="referer",
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


def check_browser(settings: Settings, headers: dict[str, str], path: str = "/") -> None:
    """The check alone (tests, other entry points): raises ForbiddenOrigin or returns."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    err = BrowserGuard(None, settings).verdict(raw, runs_code=not path.startswith("/_owt"))
    if err is not None:
        raise err


def check_cors(settings: Settings) -> None:
    """Refuse ``--cors '*'`` (every page) and ``--cors null`` (any site's sandboxed frame)
    without ``--token``, the one credential no page of another site has (a browser sends
    ``--auth``'s password by itself), unless ``--insecure``; raises ValueError."""
    wide = [o for o in settings.cors if o.strip().lower() in ("*", "null")]
    if wide and not settings.token and not settings.insecure:
        who = "every web page" if wide[0].strip() == "*" else "any site's sandboxed frame"
        raise ValueError(
            f"refusing --cors {wide[0]} without --token: {who} its user visits could run "
            "code here (a browser sends --auth's password by itself, not a token). Name "
            "the origins that may call (--cors https://app.example), add --token, or pass "
            "--insecure to do it anyway"
        )
