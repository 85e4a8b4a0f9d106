"""A call's requirement set: normalised, and keyed with the Python that builds it. Stdlib only."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from typing import Any

from owt.core.call import Call
from owt.core.errors import BadRequest, OwtError

__all__ = ["env_key", "normalise", "python_tag", "requirements_of"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
#: What may follow a name (PEP 508): extras, then nothing, a version, "@ URL" or a marker.
_AFTER_NAME = re.compile(r"\s*(\[[^\]]*\])?\s*($|[~=!<>@(;])")
#: A requirement that is a location rather than a name: a URL (git+https://...) or a path.
_LOCATION = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://|[./~])")


def requirements_of(call: Call, refusal: OwtError | None = None) -> list[str]:
    """The normalised requirements a call brings, or the server's refusal to build them."""
    if refusal is not None:
        raise refusal
    if call.env != "main":
        raise BadRequest(
            "a call may name an environment (env) or bring requirements, not both",
            field="requirements",
        )
    return normalise(call.options.get("requirements"))


def normalise(value: Any) -> list[str]:
    """The requirement strings of a call, sorted and de-duplicated.

    >>> normalise('Six==1.16.0, requests>=2')
    ['requests>=2', 'six==1.16.0']
    >>> normalise('["numpy"]')
    ['numpy']
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise BadRequest("requirements is not a valid JSON list", field="requirements")
        else:
            value = text.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest("requirements must be a list of strings", field="requirements")
    found: set[str] = set()
    for item in value:
        text = " ".join(item.split())
        if not text:
            continue
        if not text.isprintable():  # a control character, or a lone surrogate
            raise BadRequest(
                f"a requirement is printable text, as pip reads it: {text!r} is not",
                field="requirements",
            )
        if text.startswith("-"):
            raise BadRequest(
                f"requirements are package specifiers, not installer options: {text!r}",
                field="requirements",
            )
        name = None if _LOCATION.match(text) else _NAME.match(text)
        if name and not _AFTER_NAME.match(text, name.end()):
            raise BadRequest(
                f"{text!r} is not a requirement pip reads: a package name, then a version "
                "(six==1.16, numpy>=2), '@ URL' or '; marker' (PEP 508), or a URL or path",
                field="requirements",
            )
        if name:  # PEP 503: Six, six and SIX are one package
            text = re.sub(r"[-_.]+", "-", name.group(0)).lower() + text[name.end() :]
        found.add(text)
    if not found:
        raise BadRequest("requirements is empty", field="requirements")
    return sorted(found)


def python_tag() -> str:
    return f"{sys.implementation.name[:2]}{sys.version_info[0]}.{sys.version_info[1]}"


def env_key(requirements: list[str], tag: str | None = None) -> str:
    """The folder name of an environment for this (normalised) set on this Python."""
    tag = tag or python_tag()
    digest = hashlib.sha256("\n".join([tag, *requirements]).encode()).hexdigest()
    return f"{tag}-{digest[:16]}"
