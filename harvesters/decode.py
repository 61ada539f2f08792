"""Decoding response bodies the same way in every protocol: safe XML, JSON listings.

Each protocol once parsed and checked its bodies itself, with the safety rules and messages
drifting apart. What is common lives here: XML is parsed with entity expansion and external
references off (billion-laughs and XXE documents must fail safely, whichever protocol brought
them), and a JSON document that lacks the list an API promises is reported with the keys it had.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml
import msgspec
from defusedxml.ElementTree import fromstring as _safe_fromstring

from harvesters.base import FatalSourceError
from harvesters.http import UnexpectedContentError


class NotXmlError(UnexpectedContentError):
    """An XML API answered with something else (JSON, plain text): usually the URL is not the endpoint."""


class MalformedXmlError(UnexpectedContentError):
    """An XML API answered with a body that does not parse (often one cut short by a proxy)."""


class UnsafeXmlResponseError(UnexpectedContentError):
    """An XML body declares entities or external references; refused before anything expands them."""


def parse_xml(content: bytes, where: str, *, hint: str = "", source_id: str | None = None) -> ET.Element:
    """Parse an XML API response with DTD entities and external references refused.

    Billion-laughs and external-entity documents must fail safely whatever protocol brought them,
    so every XML protocol parses through here. ``where`` names the request (verb, URL) in errors;
    ``hint`` says what to check when the body is not XML at all.
    """
    if not content[:512].lstrip().startswith(b"<"):
        raise NotXmlError(f"{where} answered with a body that is not XML (starts {content[:40]!r})"
                          + (f": {hint}" if hint else ""), source_id=source_id)
    try:
        return _safe_fromstring(content, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise UnsafeXmlResponseError(f"{where}: unsafe XML refused ({type(exc).__name__}: entity declarations "
                                     "and external references are not processed)", source_id=source_id) from None
    except ET.ParseError as exc:
        raise MalformedXmlError(f"{where}: malformed or truncated XML ({exc})", source_id=source_id) from None


_strict_decode = msgspec.json.Decoder().decode


def loads(body: bytes | str) -> tuple[Any, bool]:
    """``(value, strict)``: a JSON body decoded by msgspec (~2x the json module on API pages) when it is
    strict JSON, else by the json module, which also reads what msgspec refuses (``NaN``, ``Infinity``,
    out-of-range floats, lone surrogate escapes) exactly as before. ``strict`` tells a caller that the
    value holds nothing msgspec would write back differently (see ``RawRecord.strict_json``).
    Raises ValueError (``json.JSONDecodeError``) for a body that is not JSON at all."""
    try:
        return _strict_decode(body), True
    except msgspec.DecodeError:
        return json.loads(body), False


def require_list(doc: Any, key: str, *, where: str, hint: str, source_id: str | None = None) -> list[Any]:
    """``doc[key]`` when it is a list; else a fatal error listing the keys that *were* there.

    A JSON API answering 200 with some other document (an error envelope, another API's listing)
    is the commonest misconfiguration; the keys found usually tell the user which one it was.
    """
    if isinstance(doc, dict) and isinstance(doc.get(key), list):
        return doc[key]
    found = (f"found no '{key}' list among the top-level keys: {', '.join(sorted(map(str, doc))[:8]) or 'none'}"
             if isinstance(doc, dict) else f"it is a JSON {type(doc).__name__}")
    raise FatalSourceError(f"{where} answered without a '{key}' list ({found}); {hint}", source_id=source_id,
                           field=key)
