"""The wire fields of a call (SPEC §2) → a ``Call``.

Fields come from the query string and, for a POST, from a JSON object (or form) body, the
body winning. A multipart body's text fields are fields too, and its file parts arguments
(``bytes``), passed when the function names them. Everything that is not a call field stays
in the request for the adaptor.
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import json
import math
from functools import lru_cache
from typing import Any

from owt.core.body import StreamedRequest
from owt.core.call import CALL_FIELDS, Call, Request
from owt.core.errors import BadRequest
from owt.server.body import check_form

__all__ = [
    "CALL_FIELDS",
    "call_from_fields",
    "decode_b64",
    "decode_kwargs",
    "decode_text",
    "file_arguments",
    "kwargs_from_b64",
    "parse_bool",
    "read_fields",
    "sha256_field",
    "sha256_of",
]


_BOM = b"\xef\xbb\xbf"
#: Arguments text longer than this is read as JSON only: a Python literal of a few MB takes
#: seconds to parse, on the server's event loop (an unlocked server evaluates such text
#: where the call runs instead).
LITERAL_CHARS = 64 * 1024
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def sha256_of(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def sha256_field(value: Any) -> str:
    """``code_sha256`` as sent: 64 hex digits (either case) → lower case; else a 400 that
    says what it must be (a hash that is not one is a malformed request, not unknown code)."""
    sha = str(value).strip().lower()
    if len(sha) != 64 or sha.strip("0123456789abcdef"):
        shown = sha if len(sha) <= 80 else sha[:80] + "..."
        raise BadRequest(
            f"code_sha256 must be the 64 hex digits of the code's sha256 (got {shown!r}, "
            f"{len(sha)} characters): the sha256 of its UTF-8 source as `sha256sum` prints "
            "it, or send the code itself as code_b64",
            field="code_sha256",
        )
    return sha


def parse_bool(value: Any, name: str) -> bool:
    """``true/false/1/0/yes/no/on/off`` in either case, or a JSON boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadRequest(f"{name} must be true or false, not {value!r}", field=name)


def decode_b64(value: Any, name: str) -> bytes:
    """Standard or URL-safe base64, padding optional; line breaks ignored.

    A space can only be a ``+`` that a query string turned into one (base64 put in a URL
    without percent-encoding), so it is read as ``+``.
    """
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a base64 string", field=name)
    text = value.replace(" ", "+")
    text = "".join(text.split()).replace("-", "+").replace("_", "/").rstrip("=")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            f"{name} is not valid base64 (standard or URL-safe; encode with "
            "`base64 | tr -d '\\n'`)",
            field=name,
        )


def decode_text(value: Any, name: str) -> str:
    """Base64 of UTF-8 text → the text, without a leading byte order mark (an editor's
    UTF-8 BOM is not part of the code: Python drops it from a source file too)."""
    try:
        return decode_b64(value, name).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{name} is not UTF-8 text: {exc.reason}", field=name)


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):  # too deep for JSON is too deep for a literal too
        pass
    if len(text) > LITERAL_CHARS:  # parsing Python is ~15x slower than JSON, on the loop
        return False, None
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def decode_kwargs(
    text: str, *, allow_eval: bool, field: str = "kwargs_b64"
) -> tuple[dict[str, Any], str | None]:
    """Arguments text → (kwargs, expression to evaluate where the call runs, or None).

    JSON first, then a Python literal; a decoded string is decoded once more; a value that is
    not a dict becomes ``{"__last__": value}``. Only when ``allow_eval`` may text that is
    neither be evaluated as a Python expression — by the runner, off the event loop.
    """
    ok, value = _literal(text)
    if not ok:
        if not text.strip():
            return {}, None
        if allow_eval:
            return {}, text
        raise BadRequest(_not_arguments(text, field), field=field)
    if isinstance(value, str):
        again, inner = _literal(value)
        if again:
            value = inner
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}, None
    return {"__last__": value}, None


def _not_arguments(text: str, field: str) -> str:
    if len(text) > LITERAL_CHARS:
        return (
            f"{field} is not JSON, and arguments over {LITERAL_CHARS // 1024} KiB must be: "
            "send them as a JSON object (a Python literal is read only when shorter)"
        )
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    if field == "kwargs":
        return (
            f"kwargs is {shown}, neither JSON nor a Python literal: send a JSON object such as "
            '{"name": "owt"} (in a query string, its text)'
        )
    return (
        f"kwargs_b64 decodes to {shown}, neither JSON nor a Python literal: send base64 of "
        """the arguments' JSON object (printf '{"name": "owt"}' | base64)"""
    )


def kwargs_from_b64(value: Any, *, allow_eval: bool) -> tuple[dict[str, Any], str | None]:
    """``kwargs_b64`` decoded (see :func:`decode_kwargs`); a fresh dict every call.

    Arguments whose values are all plain (str, numbers, bools, None) are remembered by their
    text, since a client calling in a loop sends the same text again; anything that an
    adaptor could mutate is decoded anew each time.
    """
    if isinstance(value, str) and len(value) <= 4096:
        known = _flat_kwargs(value, allow_eval)
        if known is not None:
            pairs, expr = known
            return dict(pairs), expr
    return decode_kwargs(decode_text(value, "kwargs_b64"), allow_eval=allow_eval)


_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})


@lru_cache(maxsize=512)
def _flat_kwargs(
    value: str, allow_eval: bool
) -> tuple[tuple[tuple[str, Any], ...], str | None] | None:
    kwargs, expr = decode_kwargs(decode_text(value, "kwargs_b64"), allow_eval=allow_eval)
    if all(type(v) in _PLAIN_VALUES for v in kwargs.values()):
        return tuple(kwargs.items()), expr
    return None


def read_fields(request: Request, *, lists: bool = False) -> dict[str, Any]:
    """The call's fields: query parameters, then a JSON object or form body over them.

    With ``lists``, a name repeated in the query or form gives the list of its values
    (typed endpoint arguments, ``?tag=a&tag=b`` → ``["a", "b"]``); else its first value.
    """
    if request.form_pairs is not None:  # multipart: text fields (and, typed, file parts)
        fields = request.args.collapsed() if lists else dict(request.args)
        for part in request.file_parts:  # curl -F code_b64=@adaptor.b64: a call field's text
            if part.name in CALL_FIELDS:
                fields[part.name] = part.data.decode("utf-8", "replace")
        fields.update(request.form.collapsed() if lists else request.form)
        if lists:
            fields.update(file_arguments(request))
        return fields
    # A streamed body is raw data (never fields), for the adaptor alone to read.
    in_body = type(request) is not StreamedRequest and request.method not in ("GET", "HEAD")
    if lists:
        fields = request.args.collapsed()
    elif not in_body or not request.data:
        return request.args  # read-only from here on: no copy
    else:
        fields = dict(request.args)
    if not in_body or not request.data:
        return fields
    if request.is_json:
        fields.update(_json_fields(request.data))
    elif "application/x-www-form-urlencoded" in request.content_type:
        check_form(request.data)  # before parsing it, on the loop
        fields.update(request.form.collapsed() if lists else request.form)
    return fields


def _json_fields(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data.removeprefix(_BOM))  # a body saved by a Windows editor
    except ValueError as exc:
        raise BadRequest(_json_problem(exc, data), field="body")
    except RecursionError:
        raise BadRequest("the body's JSON is nested too deeply", field="body")
    return body if isinstance(body, dict) else {}


def _json_problem(exc: ValueError, data: bytes) -> str:
    """Why a JSON body did not parse, with the likely cause when there is one."""
    message = f"the body is not valid JSON: {exc}"
    if "control character" in str(exc) and b"\n" in data:
        # `base64` wraps its output at 76 columns; the line break lands inside a JSON string.
        message += (
            " — a line break inside a string, most likely base64 output wrapped into lines: "
            "encode with `base64 -w0` (GNU) or `base64 | tr -d '\\n'` (anywhere)"
        )
    return message


def file_arguments(request: Request) -> dict[str, Any]:
    """The file parts of a multipart body as arguments: ``bytes``, a list when repeated."""
    found: dict[str, Any] = {}
    for part in request.file_parts:
        if part.name in CALL_FIELDS:  # read as the field's text (read_fields)
            continue
        if part.name in found:
            previous = found[part.name]
            found[part.name] = (
                [*previous, part.data]
                if isinstance(previous, list)
                else [
                    previous,
                    part.data,
                ]
            )
        else:
            found[part.name] = part.data
    return found


def _amount(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be a number", field=name)
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number", field=name)
    if not 0 <= amount < math.inf or (amount > 1 and not amount.is_integer()):
        raise BadRequest(f"{name} must be a fraction below 1 or a whole number", field=name)
    return amount


def _placement(fields: dict[str, Any]) -> dict[str, Any]:
    """The cluster resources a call asks for (``--executor ray`` places it on them)."""
    placement: dict[str, Any] = {}
    for name in ("num_cpus", "num_gpus", "memory"):
        if fields.get(name) not in (None, ""):
            placement[name] = _amount(fields[name], name)
    if "memory" in placement:
        placement["memory"] = int(placement["memory"])  # bytes
    kind = fields.get("accelerator_type")
    if kind not in (None, ""):
        if not isinstance(kind, str) or not kind.replace("-", "").replace("_", "").isalnum():
            raise BadRequest("accelerator_type must be a name like A100", field="accelerator_type")
        placement["accelerator_type"] = kind
    custom = fields.get("resources")
    if isinstance(custom, str) and custom.strip():  # from a query string: JSON text
        try:
            custom = json.loads(custom)
        except ValueError:
            raise BadRequest("resources must be a JSON object", field="resources")
    if custom not in (None, "", {}):
        if not isinstance(custom, dict) or not all(isinstance(k, str) and k for k in custom):
            raise BadRequest("resources must map names to amounts", field="resources")
        placement["resources"] = {k: _amount(v, "resources") for k, v in custom.items()}
    return placement


_OPTION_FIELDS = frozenset(
    {
        "use_cache",
        "cache_kwargs",
        "rebuild",
        "cache_key_override",
        "requirements",
        "num_cpus",
        "num_gpus",
        "memory",
        "accelerator_type",
        "resources",
    }
)


def _options(fields: dict[str, Any]) -> dict[str, Any]:
    """Cache, environment and placement options of a call."""
    options: dict[str, Any] = {
        name: parse_bool(fields[name], name)
        for name in ("use_cache", "cache_kwargs", "rebuild")
        if fields.get(name) is not None  # a JSON null is the field left out, as for all
    }
    if fields.get("cache_key_override") not in (None, ""):
        options["cache_key_override"] = str(fields["cache_key_override"])
    if fields.get("requirements") not in (None, "", []):
        options["requirements"] = fields["requirements"]
    placement = _placement(fields)
    if placement:
        options["placement"] = placement
    return options


def call_from_fields(
    fields: dict[str, Any],
    request: Request,
    code: str,
    *,
    allow_eval: bool,
    default_timeout: float,
    sha256: str | None = None,
) -> Call:
    """Build the Call for ``code`` from the request's fields (arguments, name, options)."""
    kwargs: dict[str, Any] = {}
    expr = None
    if fields.get("kwargs_b64") not in (None, ""):
        kwargs, expr = kwargs_from_b64(fields["kwargs_b64"], allow_eval=allow_eval)
    plain = fields.get("kwargs")
    if isinstance(plain, str):  # from a query string: JSON text
        blank = not plain.strip()
        plain, _ = ({}, None) if blank else decode_kwargs(plain, allow_eval=False, field="kwargs")
    if plain is not None:
        if not isinstance(plain, dict):
            raise BadRequest("kwargs must be a JSON object", field="kwargs")
        kwargs = {**kwargs, **plain}
    file_args: tuple[str, ...] = ()
    if request.file_parts:  # uploaded files are arguments too, as bytes
        files = file_arguments(request)
        kwargs, file_args = {**kwargs, **files}, tuple(files)
    fn_name = fields.get("fn_name") or "run"
    if fn_name != "run" and (not isinstance(fn_name, str) or not fn_name.isidentifier()):
        raise BadRequest(f"fn_name must be a Python name, not {fn_name!r}", field="fn_name")
    timeout = default_timeout
    if fields.get("timeout") not in (None, ""):
        try:
            if isinstance(fields["timeout"], bool):  # JSON true is no number of seconds
                raise TypeError
            timeout = float(fields["timeout"])
        except (TypeError, ValueError):
            raise BadRequest("timeout must be a number of seconds", field="timeout")
        if not 0 < timeout < math.inf:
            raise BadRequest("timeout must be a positive number of seconds", field="timeout")
    env = fields.get("env") or "main"
    if env != "main" and not isinstance(env, str):
        raise BadRequest("env must be a name", field="env")
    # Most calls carry no options: one set operation says so.
    options = {} if _OPTION_FIELDS.isdisjoint(fields) else _options(fields)
    return Call(
        code=code,
        sha256=sha256 or sha256_of(code),
        fn_name=fn_name,
        kwargs=kwargs,
        kwargs_expr=expr,
        request=request,
        timeout=timeout,
        env=env,
        options=options,
        file_args=file_args,
    )
