"""What the OAI-PMH metadata formats have in common: reading the record, and the :class:`Draft` they fill.

Each format module (:mod:`transforms.oai_dc`, :mod:`transforms.datacite`) only *reads* its XML into a
:class:`Draft` — lists of ``(field, value)`` so that every later warning names the source field — and
:mod:`transforms.oai_build` turns any Draft into DCAT-AP 3. So the DCAT decisions (DOI handling, landing
page, the fallback distribution, licences and access rights) are made once for every format.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import defusedxml
from defusedxml.ElementTree import fromstring as safe_fromstring

from transforms.base import MappingError, SourceContext

OAI = "http://www.openarchives.org/OAI/2.0/"
_O = "{" + OAI + "}"

Pair = tuple[str, str]  # (source field, value)

_DOI = re.compile(r"^\s*(?:doi:\s*|https?://(?:dx\.)?doi\.org/|info:doi/)?(10\.\d{4,9}/\S+)\s*$", re.I)
_EU_REPO_ACCESS = re.compile(r"^info:eu-repo/semantics/(openAccess|restrictedAccess|embargoedAccess|closedAccess|"
                             r"metadataOnlyAccess)$", re.I)


@dataclass
class Agent:
    """A creator/contributor/publisher as the record names it; ``iri`` from an ORCID/ROR name identifier."""

    name: str
    iri: str | None = None
    kind: str | None = None  # "person" / "organisation" when the record says


@dataclass
class Draft:
    """Everything a metadata format said, before any DCAT decision."""

    native_id: str
    datestamp: str | None
    prefix: str  # oai_dc / oai_datacite / datacite: which FIELD_MAP applies
    titles: list[Pair] = field(default_factory=list)
    descriptions: list[Pair] = field(default_factory=list)
    creators: list[tuple[str, Agent]] = field(default_factory=list)
    contributors: list[tuple[str, Agent]] = field(default_factory=list)
    contacts: list[tuple[str, Agent]] = field(default_factory=list)
    publisher: Pair | None = None
    issued: list[Pair] = field(default_factory=list)  # candidates, best first
    created: list[Pair] = field(default_factory=list)
    modified: list[Pair] = field(default_factory=list)
    types: list[Pair] = field(default_factory=list)
    formats: list[Pair] = field(default_factory=list)
    sizes: list[Pair] = field(default_factory=list)
    identifiers: list[Pair] = field(default_factory=list)
    rights: list[tuple[str, str, str | None]] = field(default_factory=list)  # (field, label, URI)
    keywords: list[Pair] = field(default_factory=list)
    languages: list[Pair] = field(default_factory=list)
    places: list[Pair] = field(default_factory=list)
    boxes: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)  # W,S,E,N
    periods: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    version: Pair | None = None


@dataclass
class OaiRecord:
    """The parts of an OAI ``<record>`` a mapping reads."""

    native_id: str
    datestamp: str | None
    deleted: bool
    metadata: ET.Element | None  # the first child of <metadata>


def read_record(record: Any, ctx: SourceContext) -> OaiRecord:
    """Parse a raw record's payload (the ``<record>`` XML text) safely; unreadable → :class:`MappingError`."""
    payload = getattr(record, "payload", record)
    native = str(getattr(record, "native_id", "") or "?")
    if not isinstance(payload, (str, bytes)):
        raise MappingError(f"payload is a {type(payload).__name__}, not the XML text of an OAI record",
                           source_id=ctx.source_id, native_id=native, field="payload")
    try:
        root = safe_fromstring(payload.encode("utf-8") if isinstance(payload, str) else payload)
    except defusedxml.DefusedXmlException as exc:
        raise MappingError(f"unsafe XML refused ({type(exc).__name__})", source_id=ctx.source_id,
                           native_id=native, field="payload") from None
    except ET.ParseError as exc:
        raise MappingError(f"payload is not well-formed XML ({exc})", source_id=ctx.source_id, native_id=native,
                           field="payload") from None
    if root.tag != _O + "record":
        raise MappingError(f"payload root is <{root.tag}>, not an OAI <record>", source_id=ctx.source_id,
                           native_id=native, field="payload")
    header = root.find(_O + "header")
    ident = text_of(header.find(_O + "identifier")) if header is not None else ""
    stamp = ""
    if header is not None:
        stamp = text_of(header.find(_O + "datestamp")) or text_of(header.find(_O + "dateStamp"))
    meta = root.find(_O + "metadata")
    child = next(iter(meta), None) if meta is not None else None
    return OaiRecord(native_id=native if native != "?" else (ident or "?"), datestamp=stamp or None,
                     deleted=header is not None and header.get("status") == "deleted", metadata=child)


def text_of(el: ET.Element | None) -> str:
    """All text inside an element (mixed content included), whitespace collapsed."""
    if el is None:
        return ""
    return " ".join("".join(el.itertext()).split())


def raw_text(el: ET.Element | None) -> str:
    """All text inside an element with line breaks kept (descriptions), stripped."""
    return "".join(el.itertext()).strip() if el is not None else ""


def doi_of(value: str) -> str | None:
    """The bare DOI (``10.5281/zenodo.1``) in ``10.x/...``, ``doi:10.x``, or a doi.org URL; else None."""
    m = _DOI.match(value or "")
    return m.group(1) if m else None


def eu_repo_access(value: str) -> str | None:
    """``openAccess``... for an ``info:eu-repo/semantics/...Access`` term; else None."""
    m = _EU_REPO_ACCESS.match((value or "").strip())
    return m.group(1)[0].lower() + m.group(1)[1:] if m else None


_SPLIT = re.compile(r"\s*[;,]\s*")


def split_keywords(value: str) -> list[str]:
    """One dc:subject holding a list ("a, b, and c." — Zenodo's shape) → ["a", "b", "c"]."""
    parts = [p.strip().rstrip(".").strip() for p in _SPLIT.split(value or "")]
    return [re.sub(r"^and\s+", "", p, flags=re.I) for p in parts if p]


__all__ = ["Agent", "Draft", "OaiRecord", "Pair", "doi_of", "eu_repo_access", "raw_text", "read_record",
           "split_keywords", "text_of"]
