"""Every endpoint of a server, how a request to one becomes a Call, what a locked server runs."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from owt.core.call import Call, Request
from owt.core.errors import (
    BadRequest,
    CompileError,
    Locked,
    NoFunction,
    OwtError,
    UnknownEndpoint,
)
from owt.core.shapes import shape_of
from owt.server.endpoints.endpoint import Endpoint, MountedFile, check_name, parse_mount
from owt.server.protocol import CALL_FIELDS, call_from_fields, read_fields

if TYPE_CHECKING:
    from owt.config import Settings
    from owt.server.codes import CodeStore
    from owt.server.statedb import StateDB

__all__ = ["Endpoints", "allowed_code", "check_settings"]

log = logging.getLogger(__name__)

#: Call fields a request to an endpoint may set; the rest (code, fn_name, env, requirements)
#: belong to the endpoint.
CALLER_FIELDS = frozenset(
    {"kwargs", "kwargs_b64", "timeout", "use_cache", "cache_kwargs", "cache_key_override"}
)
#: Call fields an endpoint fixes, which a request to it may not send (code aside: a request
#: with code of its own is an ordinary call).
OWNED_FIELDS = sorted(CALL_FIELDS - CALLER_FIELDS - {"code_b64", "code_sha256"})
#: Call fields a registration keeps (besides the code and the default kwargs).
STORED_OPTIONS = ("use_cache", "cache_kwargs", "cache_key_override", "requirements", "rebuild")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z")


def _refuse_owned_fields(
    name: str, endpoint: Endpoint, values: dict[str, Any], locked: bool
) -> None:
    """A field the endpoint fixes (where it runs, which function) is not silently dropped."""
    for field in OWNED_FIELDS:
        if _given(values.get(field)):
            own = endpoint.fields().get(field)
            fixed = f" (it is {own!r} there)" if own not in (None, "", [], False) else ""
            settable = CALLER_FIELDS - {"kwargs", "kwargs_b64"}  # beside the arguments
            if locked:
                settable -= {"cache_key_override"}  # Locked: see guard_fields
            other_code = "" if locked else " To run other code, send code_b64."
            raise BadRequest(
                f"{field!r} belongs to the endpoint /{name}{fixed}: a request to it sets the "
                f"function's arguments and {', '.join(sorted(settable))}. If the function takes an "
                f"argument named {field!r}, send it inside kwargs (a JSON body's "
                f'{{"kwargs": {{"{field}": ...}}}}, or kwargs_b64 in a query or form).'
                + other_code,
                field=field,
            )


def _given(value: Any) -> bool:
    """A code field that was sent (its first value, when the name was repeated)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value not in (None, "")


def allowed_code(item: str) -> tuple[str, str | None]:
    """An ``--allow`` item → (sha256, the file's code or None for a bare hash)."""
    if _SHA256.match(item):
        return item.lower(), None
    path = Path(item).expanduser()
    try:
        data = path.read_bytes()
    except OSError:
        raise ValueError(f"--allow {item}: neither a sha256 (64 hex digits) nor a readable file")
    # Hashed as code is everywhere: the text after an editor's UTF-8 BOM.
    text = data.decode("utf-8-sig", "replace")
    return hashlib.sha256(text.encode()).hexdigest(), text


def check_settings(settings: Settings) -> None:
    """Refuse bad ``--mount`` and ``--allow`` values at start; ValueError says which."""
    names: set[str] = set()
    for spec in settings.mount:
        name, _ = parse_mount(spec)
        if name in names:
            raise ValueError(f"--mount {name} is given twice")
        names.add(name)
    for item in settings.allow:
        allowed_code(item)


class Endpoints:
    """Every endpoint of a server: mounts (from settings) and registered ones (in the db)."""

    def __init__(
        self,
        settings: Settings | None = None,
        db: StateDB | None = None,
        codes: CodeStore | None = None,
    ) -> None:
        self.locked = bool(settings and settings.locked)
        self.timeout = settings.timeout if settings else 60.0
        self.db = db
        self.mounts: dict[str, MountedFile] = {}
        self.registered: dict[str, Endpoint] = {}
        self.allowed: set[str] = set()
        self.allow_fn = {"run", *(settings.allow_fn if settings else ())}
        for spec in settings.mount if settings else ():
            name, path = parse_mount(spec)
            self.mounts[name] = MountedFile(name, path)
        for item in settings.allow if settings else ():
            sha, code = allowed_code(item)
            self.allowed.add(sha)
            if code is not None and codes is not None:
                codes.add(sha, code)  # an allowed file runs by its hash without being sent
        if db is not None:
            db.execute(
                "CREATE TABLE IF NOT EXISTS endpoints "
                "(name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated REAL NOT NULL)"
            )
            for name, spec in db.query("SELECT name, spec FROM endpoints ORDER BY name"):
                if name in self.mounts:
                    log.warning("registered endpoint %s is hidden by --mount %s", name, name)
                self.registered[name] = Endpoint.from_stored(name, spec)

    # -- looking up --------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted({*self.mounts, *self.registered})

    def get(self, name: str) -> Endpoint | None:
        """The endpoint called ``name`` as it is now (a mount wins over a registration)."""
        mount = self.mounts.get(name)
        if mount is not None:
            return mount.current()
        return self.registered.get(name)

    def require(self, name: str) -> Endpoint:
        endpoint = self.get(name)
        if endpoint is None:
            raise UnknownEndpoint(f"no endpoint named {name!r}", name=name)
        return endpoint

    def snapshot(self) -> list[Endpoint]:
        """Every endpoint that can be read now (a mount that cannot is left out)."""
        found = []
        for name in self.names():
            try:
                endpoint = self.get(name)
            except OwtError:
                continue
            if endpoint is not None:
                found.append(endpoint)
        return found

    # -- calling -----------------------------------------------------------------------------

    def resolve(self, request: Request) -> Call | None:
        """The typed Call for a request to ``/NAME[/...]`` without code of its own, else None.

        The request's fields are read here once (repeated names as lists, for typed
        arguments), and only for a path that names an endpoint.
        """
        name = request.path.split("/", 2)[1]
        if name not in self.mounts and name not in self.registered:
            return None
        values = read_fields(request, lists=True)
        if CALL_FIELDS.isdisjoint(values) and not request.file_parts:
            # The usual call: nothing but the function's arguments (GET /hello?name=owt).
            endpoint = self.require(name)
            call = self._template(endpoint).copy(request, {**endpoint.kwargs, **values})
            self.guard_function(call.fn_name)
            return call
        if _given(values.get("code_b64")) or _given(values.get("code_sha256")):
            return None  # explicit code wins: an ordinary call on this path
        self.guard_fields(values)
        endpoint = self.require(name)
        _refuse_owned_fields(name, endpoint, values, self.locked)
        own = endpoint.fields()
        own.update({k: v for k, v in values.items() if k in CALLER_FIELDS})
        call = call_from_fields(
            own,
            request,
            endpoint.code,
            allow_eval=not self.locked,
            default_timeout=self.timeout,
            sha256=endpoint.sha256,
        )
        plain = {k: v for k, v in values.items() if k not in CALL_FIELDS}
        call.kwargs = {**endpoint.kwargs, **call.kwargs, **plain}
        if self.locked and "use_cache" in values and call.options.get("use_cache"):
            # A caller's own choice to cache keys by its arguments: its answer never goes
            # to a caller who sent others (no page planted at the endpoint's path).
            call.options["cache_kwargs"] = True
        call.typed = True
        if endpoint.file is not None:
            call.filename = endpoint.filename
        self.guard_function(call.fn_name)
        return call

    def _template(self, endpoint: Endpoint) -> Call:
        """The endpoint's call before any request: its fields read once per version of it
        (a changed file is a new Endpoint), not per request."""
        key = (self.timeout, self.locked)
        template = endpoint.__dict__.get("_template")
        if template is None or template[0] != key:
            call = call_from_fields(
                endpoint.fields(),
                Request(),
                endpoint.code,
                allow_eval=not self.locked,
                default_timeout=self.timeout,
                sha256=endpoint.sha256,
            )
            call.typed = True
            if endpoint.file is not None:
                call.filename = endpoint.filename
            template = endpoint.__dict__["_template"] = (key, call)
        return template[1]

    def guard(self, sha256: str) -> None:
        """On a locked server, refuse code that is not ``--allow``'ed (403 ``locked``)."""
        if self.locked and sha256.lower() not in self.allowed:
            raise Locked(
                "this server is locked: it runs only its endpoints and --allow'ed code",
                sha256=sha256.lower(),
            )

    def guard_function(self, fn_name: str) -> None:
        """On a locked server, only ``run`` and ``--allow-fn`` names may be called: an allowed
        file's other functions (``_admin``) are not the operator's offer."""
        if self.locked and (fn_name.startswith("_") or fn_name not in self.allow_fn):
            raise Locked(
                f"this server is locked: it calls only {', '.join(sorted(self.allow_fn))} "
                "(the operator names more with --allow-fn)",
                fn_name=fn_name,
            )

    def guard_fields(self, fields: dict[str, Any]) -> None:
        """On a locked server, a caller may not choose where its response is cached."""
        if self.locked and fields.get("cache_key_override") not in (None, ""):
            raise Locked(
                "this server is locked: callers cannot choose cache keys (cache_key_override)",
                field="cache_key_override",
            )

    # -- registering -------------------------------------------------------------------------
    # The dicts change only on the event loop; parsing and SQLite writes happen in a thread.

    def prepare(self, name: str, code: str, fields: dict[str, Any]) -> Endpoint:
        """A checked endpoint from a registration's fields (parses the code; runs none of it)."""
        try:
            check_name(name)
        except ValueError as exc:
            raise BadRequest(str(exc), field="name")
        if name in self.mounts:
            raise BadRequest(f"{name!r} is mounted from a file; pick another name", field="name")
        try:
            tree = ast.parse(code, f"<endpoint {name}>")
        except SyntaxError as exc:
            raise CompileError(f"SyntaxError: {exc.msg}", line=exc.lineno, column=exc.offset)
        except (RecursionError, MemoryError):
            raise CompileError("the code is nested too deeply to compile")
        probe = call_from_fields(
            fields, Request(), code, allow_eval=False, default_timeout=self.timeout
        )
        try:
            json.dumps(probe.kwargs)
        except (TypeError, ValueError):
            raise BadRequest("the default kwargs must be JSON values", field="kwargs")
        fn = probe.fn_name  # a name the code never mentions: every call would be a 422
        if shape_of(tree) == "explicit" and not re.search(rf"\b{re.escape(fn)}\b", code):
            raise NoFunction(f"the code never names {fn!r}: define it, or send fn_name", fn_name=fn)
        return Endpoint(
            name=name,
            code=code,
            sha256=probe.sha256,
            fn_name=probe.fn_name,
            env=probe.env,
            kwargs=probe.kwargs,
            timeout=probe.timeout if fields.get("timeout") not in (None, "") else None,
            options={k: probe.options[k] for k in STORED_OPTIONS if k in probe.options},
        )

    async def add(self, endpoint: Endpoint) -> bool:
        """Register (or replace) an endpoint; True when its name is new."""
        if self.db is not None:
            await anyio.to_thread.run_sync(
                self.db.execute,
                "INSERT OR REPLACE INTO endpoints VALUES (?, ?, ?)",
                (endpoint.name, endpoint.stored(), time.time()),
            )
        created = endpoint.name not in self.registered
        self.registered[endpoint.name] = endpoint
        log.info("endpoint %s registered (%s)", endpoint.name, endpoint.sha256[:12])
        return created

    async def remove(self, name: str) -> Endpoint:
        if name in self.mounts:
            raise BadRequest(f"{name!r} is mounted; restart without --mount to remove it")
        endpoint = self.registered.get(name)
        if endpoint is None:
            raise UnknownEndpoint(f"no endpoint named {name!r}", name=name)
        if self.db is not None:
            await anyio.to_thread.run_sync(
                self.db.execute, "DELETE FROM endpoints WHERE name = ?", (name,)
            )
        self.registered.pop(name, None)
        log.info("endpoint %s removed", name)
        return endpoint
