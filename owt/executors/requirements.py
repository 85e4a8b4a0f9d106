"""A call's requirement set: checked, in one canonical text each, and keyed with the Python
that builds it.

A call brings its requirements as a JSON list of strings (or its text), or as one string:
one requirement per line, or several on a line separated by commas. A comma starts the next
requirement only where what follows starts one (a letter or digit, or ``.``, ``/``, ``~``
of a path); before a version operator it goes on with the version range::

    six>=1,<2, numpy          →  ["numpy", "six<2,>=1"]

Each requirement is what pip reads (PEP 508): a name with its extras, versions, ``@ URL``
and ``; marker``, read by ``packaging`` and written back in its one canonical form (the
name and extras as PEP 503 spells them, specifiers sorted, no spaces but those PEP 508
needs), so that ``Six [Foo] ==1.17.0`` and ``six[foo]==1.17.0`` are one environment; or a
URL or path (``git+https://...``, ``./wheels/x.whl``), kept as written. Anything else is
400 ``bad_request`` naming it, before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from owt.core.call import Call
from owt.core.errors import BadRequest, OwtError

__all__ = [
    "MAX_REQUIREMENTS",
    "MAX_REQUIREMENT_CHARS",
    "canonical",
    "check_requirements",
    "env_key",
    "normalise",
    "python_tag",
    "requirements_of",
    "split_requirements",
]

#: At most this many requirements in one set, each at most this long: a set is installed
#: with one command line, which the system bounds (a longer one failed as E2BIG, a 500).
MAX_REQUIREMENTS = 256
MAX_REQUIREMENT_CHARS = 2048

#: A requirement that is a location rather than a name: a URL (git+https://...) or a path.
_LOCATION = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://|[./~])")
#: What starts a requirement (a name, a URL or a path): a comma before it ends the last one.
_STARTS = re.compile(r"\s*([A-Za-z0-9./~]|$)")


def requirements_of(call: Call, refusal: OwtError | None = None) -> list[str]:
    """The normalised requirements a call brings, or the server's refusal to build them."""
    return check_requirements(call.options.get("requirements"), call.env, refusal)


def check_requirements(value: Any, env: str = "main", refusal: OwtError | None = None) -> list[str]:
    """The normalised requirements of a call (or an endpoint) in ``env``; raises the
    OwtError each call of it would get."""
    if refusal is not None:
        raise refusal
    if env != "main":
        raise BadRequest(
            "a call may name an environment (env) or bring requirements, not both",
            field="requirements",
        )
    return normalise(value)


def split_requirements(text: str) -> list[str]:
    """The requirements of the string form: one per line, or separated by commas where the
    next one starts (a comma before a version operator goes on with the range).

    >>> split_requirements("six>=1,<2, numpy")
    ['six>=1,<2', ' numpy']
    """
    pieces: list[str] = []
    for line in text.splitlines():
        for piece in line.split(","):
            if pieces and not _STARTS.match(piece):
                pieces[-1] += "," + piece
            else:
                pieces.append(piece)
    return pieces


def normalise(value: Any) -> list[str]:
    """The requirement strings of a call, canonical, sorted and de-duplicated.

    >>> normalise('Six==1.16.0, requests >= 2')
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
            value = split_requirements(text)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest("requirements must be a list of strings", field="requirements")
    if len(value) > MAX_REQUIREMENTS:
        raise BadRequest(
            f"a call brings at most {MAX_REQUIREMENTS} requirements (this one {len(value)}); "
            "put them in fewer packages, or in an environment named with --env",
            field="requirements",
        )
    found = {canonical(text) for item in value if (text := " ".join(item.split()))}
    if not found:
        raise BadRequest("requirements is empty", field="requirements")
    return sorted(found)


def canonical(text: str) -> str:
    """One requirement in its canonical text; 400 naming it when pip would not read it."""
    if len(text) > MAX_REQUIREMENT_CHARS:
        raise BadRequest(
            f"a requirement is at most {MAX_REQUIREMENT_CHARS} characters; {text[:60]!r}... "
            f"has {len(text)}",
            field="requirements",
        )
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
    if _LOCATION.match(text):
        return text
    try:
        requirement = Requirement(text)
    except InvalidRequirement as err:
        why = str(err).splitlines()[0]
        raise BadRequest(
            f"{text!r} is not a requirement pip reads ({why}): a package name, then a version "
            "(six==1.16, numpy>=2,<3), '@ URL' or '; marker' (PEP 508), or a URL or path",
            field="requirements",
        ) from None
    requirement.name = canonicalize_name(requirement.name)  # PEP 503: Six, six, SIX
    requirement.extras = {canonicalize_name(extra) for extra in requirement.extras}
    return str(requirement)


def python_tag() -> str:
    return f"{sys.implementation.name[:2]}{sys.version_info[0]}.{sys.version_info[1]}"


def env_key(requirements: list[str], tag: str | None = None) -> str:
    """The folder name of an environment for this (normalised) set on this Python."""
    tag = tag or python_tag()
    digest = hashlib.sha256("\n".join([tag, *requirements]).encode()).hexdigest()
    return f"{tag}-{digest[:16]}"
