"""Stable URIs we mint, and URLs we accept from sources.

Minted URIs are the inventory's identity (docs/architecture.md "Identity"): the same source and
native id must give the same URI on every run and every machine, so each part is percent-encoded
with one fixed rule (only RFC 3986 unreserved characters stay as they are). Source URLs are
untrusted text: whitespace, ``javascript:`` links, ``www.`` without a scheme, spaces inside paths.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from rdflib import URIRef

from transforms.rdf import iri

_SAFE = "-._~"  # RFC 3986 unreserved (letters and digits are always safe)
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
_BAD_SCHEMES = ("javascript:", "data:", "vbscript:", "file:", "about:", "blob:")
# Characters not allowed in an IRI (RFC 3987) that sources nevertheless put in URLs.
_IRI_ESCAPE = {c: quote(c) for c in ' <>"{}|\\^`'}
_IRI_ESCAPE_RE = re.compile(r'[ <>"{}|\\^`\x00-\x1f\x7f]')


def encode_part(part: object) -> str:
    """One path segment or fragment, percent-encoded the same way everywhere (feed file names too)."""
    s = str(part)
    if not s:
        raise ValueError("cannot mint a URI from an empty part")
    if _UNRESERVED.fullmatch(s):  # nothing to encode (most ids): skip quote()'s bytes round trip
        return s
    return quote(s, safe=_SAFE)


def mint_uri(base: str, source_id: str, *parts: object) -> URIRef:
    """``<base>/<kind>/<source_id>/<rest...>``, e.g. ``mint_uri(b, "leeds", "dataset", "abc")`` →
    ``<b>/dataset/leeds/abc``. With no parts, ``<base>/<source_id>``.

    The kind comes first so that one kind's URIs share a prefix across sources (``/dataset/...``).
    """
    if not base or not is_http_url(base):
        raise ValueError(f"base URI must be an absolute http(s) URL, got {base!r}")
    segs = [encode_part(source_id)] if not parts else [encode_part(parts[0]), encode_part(source_id),
                                                        *(encode_part(p) for p in parts[1:])]
    return iri(base.rstrip("/") + "/" + "/".join(segs))


def fragment(uri: str, name: object) -> URIRef:
    """An auxiliary node under a minted URI: ``<uri>#<name>`` (distribution, publisher, contact...)."""
    return iri(f"{str(uri).split('#', 1)[0]}#{encode_part(name)}")


# A URL whose host is plain ASCII letters, digits, dots and hyphens with at most a numeric port: what
# urlsplit would accept, with a non-empty hostname (the common case, checked without urlsplit).
_PLAIN_HTTP = re.compile(r"(?i:https?)://[A-Za-z0-9.-]+(?::(\d{1,5}))?(?=[/?#]|$)")
_PLAIN_URL = re.compile(r"(?i:https?|ftp)://[A-Za-z0-9.-]+(?::(\d{1,5}))?(?=[/?#]|$)")


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL with a host and no whitespace or characters an IRI cannot hold."""
    if not isinstance(value, str) or not value or _IRI_ESCAPE_RE.search(value):
        return False
    if _PLAIN_HTTP.match(value):
        return True
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def clean_url(value: object) -> str | None:
    """A usable http(s)/ftp/mailto URL from source text, or None.

    Strips whitespace and wrapping ``<>``/quotes, adds ``http://`` to bare ``www.`` hosts,
    percent-encodes characters an IRI cannot contain (spaces inside paths are common), and refuses
    script/data/file schemes and anything without a host.
    """
    if not isinstance(value, str):
        return None
    s = value.strip().strip("<>\"'").strip()
    if not s:
        return None
    low = s.lower()
    if low.startswith(_BAD_SCHEMES):
        return None
    if low.startswith("www."):
        s = "http://" + s
        low = s.lower()
    if low.startswith("mailto:"):
        addr = s[7:].strip()
        return "mailto:" + addr if is_email(addr) else None
    if not low.startswith(("http://", "https://", "ftp://")):
        return None
    s = _IRI_ESCAPE_RE.sub(lambda m: _IRI_ESCAPE.get(m[0], ""), s)
    if (m := _PLAIN_URL.match(s)) and (m[1] is None or int(m[1]) <= 65535):
        return s  # what the checks below accept, without urlsplit
    try:
        parts = urlsplit(s)
        if not parts.hostname or " " in parts.netloc:
            return None
        parts.port  # noqa: B018 - raises ValueError for a junk port
    except ValueError:
        return None
    return s


_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def is_email(value: object) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value.strip()))


def mailto(value: object) -> URIRef | None:
    """``mailto:`` IRI for an e-mail address (a ``mailto:`` prefix already there is accepted); else None."""
    if not isinstance(value, str):
        return None
    s = value.strip()
    if s.lower().startswith("mailto:"):
        s = s[7:].strip()
    return URIRef("mailto:" + s) if is_email(s) else None
