"""Credentials at the door (SPEC §9): HTTP basic auth and bearer tokens, then CORS around it.

``--auth alice:<sha256 hex of her password>`` and ``--token SECRET`` (both repeatable;
``--token auto`` makes a random one, printed at start). With either set, every request needs
credentials except ``GET /_owt/health``; on ``GET`` a token may also come as ``?token=``
(``<img>``, ``<audio>`` and ``EventSource`` cannot send headers), which is removed from the
request before it is logged or reaches the adaptor. A refusal is 401
``unauthorized`` with a ``WWW-Authenticate`` challenge. Every comparison runs over every
configured credential with :func:`hmac.compare_digest`, so timing tells nothing about how
much of a guess was right. Credentials never reach a log line.

CORS (``--cors ORIGIN``) wraps the check from outside: a browser's preflight ``OPTIONS``
carries no credentials by design, so it is answered before the check, and the 401 itself
carries the CORS headers a page needs to read it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from owt.core.call import Reply
from owt.core.errors import Unauthorized
from owt.core.logtext import field_text
from owt.server.browser import BrowserGuard
from owt.server.http import send_refusal
from owt.server.web import PUBLIC_PATHS

if TYPE_CHECKING:
    from owt.config import Settings

__all__ = [
    "OPEN_PATHS",
    "AuthMiddleware",
    "ExposeHeaders",
    "parse_users",
    "password_hash",
    "protect",
]

log = logging.getLogger(__name__)

#: Paths anyone may reach: health says only ``ok``; the playground page's static files hold
#: no secret (the page asks for credentials before it fetches anything).
OPEN_PATHS = frozenset({"/_owt/health", *PUBLIC_PATHS})

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

ASGIApp = Any


def password_hash(password: str) -> str:
    """What ``--auth user:HASH`` expects: ``printf secret | sha256sum``."""
    return hashlib.sha256(password.encode()).hexdigest()


def parse_users(entries: list[str]) -> dict[str, str]:
    """``["alice:<64 hex>", ...]`` → ``{"alice": "<hex>"}``; ValueError names a bad entry
    without echoing its hash."""
    users: dict[str, str] = {}
    for entry in entries:
        user, sep, digest = entry.rpartition(":")
        if not sep or not user or not _HEX64.fullmatch(digest):
            name = user or "?"
            raise ValueError(
                f"--auth for {name!r} must be USER:SHA256HEX (64 hex digits of the password's "
                "sha256, e.g. printf secret | sha256sum)"
            )
        if ":" in user:  # Basic auth's user-id ends at the first colon (RFC 7617)
            raise ValueError(
                f"--auth for {user!r}: a user name holds no ':', so it could never log in"
            )
        users[user] = digest.lower()
    return users


class AuthMiddleware:
    """Pure ASGI: lets a request through only with a known user's password or a token."""

    def __init__(
        self, app: ASGIApp, users: dict[str, str], tokens: list[str], observer: Any = None
    ) -> None:
        self.observer = observer  # owt.server.accesslog.Observer: a refusal is logged too
        self.app = app
        self._users = [(u.encode(), d.encode()) for u, d in users.items()]
        self._tokens = [hashlib.sha256(t.encode()).digest() for t in tokens]
        challenges = []
        if users:
            challenges.append(("www-authenticate", 'Basic realm="owt", charset="UTF-8"'))
        if tokens:
            challenges.append(("www-authenticate", 'Bearer realm="owt"'))
        self._challenges = challenges

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        # A browser cannot send a header from <img>, <audio> or EventSource: on GET the token
        # may be ?token=, taken out of the URL before anything (a log line, the adaptor) sees it.
        given = self._query_token(scope)
        on_get = scope.get("method") in ("GET", "HEAD")
        header = _authorization(scope)
        if (header is not None and self.allows(header)) or (
            given and on_get and self._bearer(given)
        ):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        if header is None and given is None:
            reason = "no credentials"
            ways = ["HTTP basic auth"] if self._users else []
            if self._tokens:
                ways += ["Authorization: Bearer TOKEN", "?token=TOKEN on a GET"]
            message = f"this server needs credentials: {', or '.join(ways)}"
        elif header is None and not on_get:
            reason = "?token= on " + str(scope.get("method"))
            message = "?token= is taken only on GET; send Authorization: Bearer TOKEN"
        else:
            reason = "wrong credentials"
            message = "the credentials are wrong"
        path = field_text(scope["path"])
        log.info("401 %s %s from %s: %s", scope.get("method"), path, client[0], reason)
        err = Unauthorized(message)
        challenges = self._challenges
        if (b"x-requested-with", b"XMLHttpRequest") in scope.get("headers", ()):
            # A page's script asks for itself (the playground): no Basic challenge, which
            # would make the browser open its own login box instead of the page's.
            challenges = [c for c in challenges if not c[1].startswith("Basic")]
        headers = [h for h in err.headers() if h[0] != "www-authenticate"] + challenges
        await send_refusal(
            self.observer, scope, receive, send, Reply(err.status, headers, err.body())
        )

    def _query_token(self, scope: dict[str, Any]) -> str | None:
        """``?token=`` removed from the scope's query string (in place: uvicorn logs that
        same scope); its value, or None. Only on servers with ``--token``."""
        query: bytes = scope.get("query_string", b"")
        if not self._tokens or (b"token=" not in query and b"%" not in query):
            return None  # (a name may be percent-encoded: %74oken= is token= too)
        pairs = urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        tokens = [v for k, v in pairs if k == "token"]
        if not tokens:
            return None
        kept = [(k, v) for k, v in pairs if k != "token"]
        scope["query_string"] = urllib.parse.urlencode(kept).encode("latin-1")
        return tokens[-1]

    def allows(self, header: str) -> bool:
        """True when an ``Authorization`` header value names a known user or token."""
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "basic" and self._users:
            return self._basic(value)
        if scheme == "bearer" and self._tokens:
            return self._bearer(value)
        return False

    def _basic(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        given_user = user.encode()
        given = password_hash(password).encode()
        ok = False
        for known_user, digest in self._users:  # no early exit: same work for every guess
            ok |= hmac.compare_digest(known_user, given_user) & hmac.compare_digest(digest, given)
        return ok

    def _bearer(self, value: str) -> bool:
        given = hashlib.sha256(value.encode()).digest()
        ok = False
        for token in self._tokens:
            ok |= hmac.compare_digest(token, given)
        return ok


def _authorization(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def protect(app: ASGIApp, settings: Settings, observer: Any = None) -> ASGIApp:
    """``app`` behind the credentials check (when configured), behind the browser checks
    (always), behind CORS (when asked); ``observer`` logs and counts their refusals."""
    if settings.protected:
        app = AuthMiddleware(app, parse_users(settings.auth), settings.token, observer)
    app = BrowserGuard(app, settings, observer)  # always, whatever the auth: before all
    if settings.cors:
        from starlette.middleware.cors import CORSMiddleware

        any_origin = "*" in settings.cors
        exposing: ASGIApp = ExposeHeaders(app, ["x-owt-cache", "x-request-id"])
        app = CORSMiddleware(
            exposing,
            # As the browser guard reads them: http://App.example/ is the page's origin
            # http://app.example, which a browser sends.
            allow_origins=[o.rstrip("/").lower() for o in settings.cors],
            allow_methods=["*"],
            allow_headers=["*"],
            # Credentials may be sent only to named origins, never to "any".
            allow_credentials=not any_origin,
        )
    return app


class ExposeHeaders:
    """Adds owt's own names to a cross-origin response's ``Access-Control-Expose-Headers``,
    keeping the adaptor's (``X-Sample-Rate``): Starlette's ``expose_headers`` would replace
    them, and a page could not read the headers its adaptor sends."""

    def __init__(self, app: ASGIApp, names: list[str]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not any(k == b"origin" for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return

        async def merged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._merge(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, merged)

    def _merge(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        names: list[str] = []
        kept = []
        for key, value in headers:
            if key.lower() == b"access-control-expose-headers":
                names.extend(n.strip() for n in value.decode("latin-1").split(",") if n.strip())
            else:
                kept.append((key, value))
        seen = {n.lower() for n in names}
        names.extend(n for n in self.names if n not in seen)
        kept.append((b"access-control-expose-headers", ", ".join(names).encode("latin-1")))
        return kept
