"""What a CSW record said, before any DCAT decision: the draft both CSW readers fill.

:mod:`transforms.iso19139_read` (ISO 19139 / 19139-2) and :mod:`transforms.csw_dc` (CSW Dublin Core) read
their XML into a :class:`GeoDraft` — values paired with the source field they came from, so every later
warning names that field — and :mod:`transforms.iso19139_build` turns any draft into DCAT-AP 3 once.
Also here: parsing a payload safely, and the small text helpers both readers use.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import defusedxml
from defusedxml.ElementTree import fromstring as safe_fromstring

from transforms.base import MappingError, SourceContext

Pair = tuple[str, str]  # (source field, value)
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)


@dataclass
class Party:
    """A CI_ResponsibleParty (or a DC creator/publisher): who, how to reach them, in which role."""

    field: str
    role: str  # CI_RoleCode value: publisher, pointOfContact, owner, custodian, originator, author...
    organisation: str = ""
    individual: str = ""
    email: str = ""
    url: str = ""

    @property
    def name(self) -> str:
        return self.organisation or self.individual


@dataclass
class Keyword:
    field: str
    value: str
    thesaurus: str = ""
    href: str = ""  # gmx:Anchor xlink:href


@dataclass
class Online:
    """A CI_OnlineResource: a link with an optional protocol (OGC:WMS, WWW:DOWNLOAD-1.0-http--download...)."""

    field: str
    url: str
    protocol: str = ""
    name: str = ""
    description: str = ""
    function: str = ""  # CI_OnLineFunctionCode: download, information, offlineAccess, order, search


@dataclass
class Rights:
    """A constraint text (or Anchor) and whether the record states it as access or as use condition."""

    field: str
    text: str
    href: str = ""
    access: bool = False  # otherConstraints of a block that only has accessConstraints


@dataclass
class GeoDraft:
    native_id: str
    schema: str  # "iso19139" or "dc": which FIELD_MAP applies
    date_stamp: Pair | None = None
    hierarchy: str = ""
    titles: list[Pair] = field(default_factory=list)
    abstracts: list[Pair] = field(default_factory=list)
    identifiers: list[Pair] = field(default_factory=list)
    created: list[Pair] = field(default_factory=list)
    issued: list[Pair] = field(default_factory=list)
    modified: list[Pair] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    metadata_contacts: list[Party] = field(default_factory=list)
    keywords: list[Keyword] = field(default_factory=list)
    topics: list[Pair] = field(default_factory=list)
    languages: list[Pair] = field(default_factory=list)
    metadata_language: Pair | None = None
    boxes: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)  # W, S, E, N
    places: list[Pair] = field(default_factory=list)
    periods: list[tuple[str, str, str]] = field(default_factory=list)  # (field, begin, end); "" = open
    lineage: Pair | None = None
    rights: list[Rights] = field(default_factory=list)
    access_codes: list[Pair] = field(default_factory=list)  # MD_RestrictionCode of accessConstraints
    frequency: Pair | None = None
    online: list[Online] = field(default_factory=list)
    formats: list[Pair] = field(default_factory=list)
    types: list[Pair] = field(default_factory=list)  # DC dc:type
    pages: list[Pair] = field(default_factory=list)  # related pages (DC dc:source: the source record)
    notes: list[Pair] = field(default_factory=list)  # (field, problem) the reader found: become warnings


def parse_payload(record: Any, ctx: SourceContext) -> tuple[str, ET.Element]:
    """(native id, root element) of a raw record's XML payload, parsed safely; unreadable → MappingError.

    A ``str`` payload has already been decoded, so an XML declaration naming another encoding (the CGDI
    record says ISO-8859-1) would make the parser decode it twice: the declaration is dropped first.
    ``bytes`` are parsed as served, honouring the declaration.
    """
    payload = getattr(record, "payload", record)
    native = str(getattr(record, "native_id", "") or "?")
    if isinstance(payload, str):
        data: bytes = _DECL.sub("", payload, count=1).encode("utf-8")
    elif isinstance(payload, bytes):
        data = payload
    else:
        raise MappingError(f"payload is a {type(payload).__name__}, not the XML text of a CSW record",
                           source_id=ctx.source_id, native_id=native, field="payload")
    try:
        root = safe_fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise MappingError(f"unsafe XML refused ({type(exc).__name__})", source_id=ctx.source_id,
                           native_id=native, field="payload") from None
    except ET.ParseError as exc:
        raise MappingError(f"payload is not well-formed XML ({exc})", source_id=ctx.source_id, native_id=native,
                           field="payload") from None
    return native, root


def squash(text: str | None) -> str:
    """Whitespace collapsed; a lone "-" (stray text node from a browser copy) counts as empty."""
    s = " ".join((text or "").split())
    return "" if s in ("-", "--") else s


def own_text(el: ET.Element | None) -> str:
    """Text of a leaf element, ignoring any text nodes between its children (mixed-content debris)."""
    if el is None:
        return ""
    if len(el):
        return squash("".join(el.itertext()))
    return squash(el.text)


__all__ = ["GeoDraft", "Keyword", "Online", "Pair", "Party", "Rights", "own_text", "parse_payload", "squash"]
