"""DataCite metadata (kernel-4; ``oai_datacite`` wrapper or bare ``datacite``) → Draft → DCAT-AP 3.

Follows the DataCite ↔ DCAT-AP alignment: creators with ORCID/ROR name identifiers become agents with
those IRIs, the DOI is identifier and landing page, ``rightsList`` gives licence (``rightsURI`` /
SPDX ``rightsIdentifier``) and access rights (eu-repo terms), ``dates`` by ``dateType`` give issued /
created / modified and the collection period, ``geoLocations`` the spatial coverage. The Abstract comes
first among the descriptions (a Zenodo abstract is HTML escaped twice; transforms.text undoes it).
``FIELD_MAP`` is rendered in docs/mapping-oai-pmh.md and checked by tests/test_oai_mapping.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from transforms.base import Mapped, MappingError, SourceContext
from transforms.oai_build import build
from transforms.oai_common import Agent, Draft, OaiRecord, raw_text, read_record, text_of

KERNEL = re.compile(r"^\{(http://datacite\.org/schema/kernel-\d+)\}resource$")
OAI_DATACITE = re.compile(r"^\{http://schema\.datacite\.org/oai/oai-1\.\d/\}oai_datacite$")

FIELD_MAP: dict[str, tuple[str, ...]] = {
    "header/identifier": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "header/datestamp": ("^foaf:primaryTopic/dct:modified",),
    "identifier": ("dct:identifier", "adms:identifier/skos:notation", "dcat:landingPage",
                   "dcat:distribution/dcat:accessURL"),
    "alternateIdentifiers/alternateIdentifier": ("dct:identifier",),
    "creators/creator/creatorName": ("dct:creator/foaf:name",),
    "creators/creator/nameIdentifier": ("dct:creator",),
    "contributors/contributor": ("dct:contributor/foaf:name",),
    "contributors/contributor[@contributorType=ContactPerson]": ("dcat:contactPoint/vcard:fn",),
    "titles/title": ("dct:title",),
    "publisher": ("dct:publisher/foaf:name",),
    "publicationYear": ("dct:issued",),
    "dates/date[@dateType=Issued]": ("dct:issued",),
    "dates/date[@dateType=Available]": ("dct:issued",),
    "dates/date[@dateType=Created]": ("dct:created",),
    "dates/date[@dateType=Updated]": ("dct:modified",),
    "dates/date[@dateType=Collected]": ("dct:temporal/dcat:startDate",),
    "resourceType/@resourceTypeGeneral": ("dct:type",),
    "subjects/subject": ("dcat:keyword",),
    "language": ("dct:language",),
    "rightsList/rights": ("dct:license", "dct:accessRights", "dcat:distribution/dct:license"),
    "descriptions/description": ("dct:description",),
    "formats/format": ("dcat:distribution/dct:format",),
    "sizes/size": ("dcat:distribution/dcat:byteSize",),
    "version": ("dcat:version",),
    "geoLocations/geoLocation/geoLocationPlace": ("dct:spatial/skos:prefLabel",),
    "geoLocations/geoLocation/geoLocationBox": ("dct:spatial/dcat:bbox",),
}
_SPDX = "https://spdx.org/licenses/"
_NAME_IRI = {"orcid": "https://orcid.org/", "ror": "https://ror.org/", "isni": "https://isni.org/isni/"}


def resource_of(meta: ET.Element | None) -> ET.Element | None:
    """The kernel ``<resource>``: the metadata element itself, or inside an ``oai_datacite`` payload."""
    if meta is None:
        return None
    if KERNEL.match(meta.tag):
        return meta
    if OAI_DATACITE.match(meta.tag):
        return next((el for el in meta.iter() if KERNEL.match(el.tag)), None)
    return None


def _agent(el: ET.Element, ns: str, name_tag: str) -> Agent | None:
    name = text_of(el.find(ns + name_tag))
    given, family = text_of(el.find(ns + "givenName")), text_of(el.find(ns + "familyName"))
    name = name or ", ".join(p for p in (family, given) if p)
    if not name:
        return None
    iri = None
    for ident in el.findall(ns + "nameIdentifier"):
        value, scheme = text_of(ident), (ident.get("nameIdentifierScheme") or "").strip().lower()
        if value.startswith(("http://", "https://")):
            iri = value
        elif scheme in _NAME_IRI and value:
            iri = _NAME_IRI[scheme] + value
        if iri:
            break
    name_el = el.find(ns + name_tag)
    kind = {"personal": "person", "organizational": "organisation"}.get(
        (name_el.get("nameType") or "").lower() if name_el is not None else "")
    return Agent(name, iri, kind)


def _float(el: ET.Element, ns: str, name: str) -> float | None:
    try:
        return float(text_of(el.find(ns + name)))
    except ValueError:
        return None


def draft_of(rec: OaiRecord, ctx: SourceContext) -> Draft:
    res = resource_of(rec.metadata)
    if res is None:
        found = rec.metadata.tag if rec.metadata is not None else "nothing"
        raise MappingError(f"no DataCite kernel <resource> in the record's metadata (found {found})",
                           source_id=ctx.source_id, native_id=rec.native_id, field="metadata")
    ns = "{" + KERNEL.match(res.tag).group(1) + "}"  # type: ignore[union-attr]
    wrapped = rec.metadata is not res
    d = Draft(native_id=rec.native_id, datestamp=rec.datestamp, prefix="oai_datacite" if wrapped else "datacite")

    def each(path: str) -> list[ET.Element]:
        return res.findall("/".join(ns + p for p in path.split("/")))

    ident = res.find(ns + "identifier")
    if ident is not None and text_of(ident):
        d.identifiers.append(("identifier", text_of(ident)))
    for alt in each("alternateIdentifiers/alternateIdentifier"):
        if v := text_of(alt):
            d.identifiers.append(("alternateIdentifiers/alternateIdentifier", v))
    d.creators = [("creators/creator", a) for el in each("creators/creator") if (a := _agent(el, ns, "creatorName"))]
    for el in each("contributors/contributor"):
        if a := _agent(el, ns, "contributorName"):
            d.contributors.append(("contributors/contributor", a))
            if (el.get("contributorType") or "") == "ContactPerson":
                d.contacts.append(("contributors/contributor", a))
    titles = each("titles/title")
    titles.sort(key=lambda t: t.get("titleType") is not None)  # the main title has no titleType
    d.titles = [("titles/title", v) for t in titles if (v := text_of(t))]
    if pub := text_of(res.find(ns + "publisher")):
        d.publisher = ("publisher", pub)
    dates: dict[str, list[str]] = {}
    for el in each("dates/date"):
        if v := text_of(el):
            dates.setdefault((el.get("dateType") or "").lower(), []).append(v)
    d.issued = [("dates/date[@dateType=Issued]", v) for v in dates.get("issued", [])]
    d.issued += [("dates/date[@dateType=Available]", v) for v in dates.get("available", [])]
    if year := text_of(res.find(ns + "publicationYear")):
        d.issued.append(("publicationYear", year))
    d.created = [("dates/date[@dateType=Created]", v) for v in dates.get("created", [])]
    d.modified = [("dates/date[@dateType=Updated]", v) for v in dates.get("updated", [])]
    for v in dates.get("collected", [])[:1]:
        start, _, end = v.partition("/")
        d.periods.append(("dates/date[@dateType=Collected]", start or None, end or None))
    rtype = res.find(ns + "resourceType")
    if rtype is not None and (general := (rtype.get("resourceTypeGeneral") or "").strip()):
        d.types.append(("resourceType/@resourceTypeGeneral", general))
    d.keywords = [("subjects/subject", v) for el in each("subjects/subject") if (v := text_of(el))]
    if lang := text_of(res.find(ns + "language")):
        d.languages.append(("language", lang))
    for el in each("rightsList/rights"):
        uri = (el.get("rightsURI") or "").strip() or None
        spdx = (el.get("rightsIdentifier") or "").strip()
        if not uri and spdx and (el.get("rightsIdentifierScheme") or "").upper() == "SPDX":
            uri = _SPDX + spdx
        d.rights.append(("rightsList/rights", text_of(el), uri))
    descs = each("descriptions/description")
    descs.sort(key=lambda el: (el.get("descriptionType") or "") != "Abstract")
    d.descriptions = [("descriptions/description", v) for el in descs if (v := raw_text(el))]
    d.formats = [("formats/format", v) for el in each("formats/format") if (v := text_of(el))]
    d.sizes = [("sizes/size", v) for el in each("sizes/size") if (v := text_of(el))]
    if version := text_of(res.find(ns + "version")):
        d.version = ("version", version)
    for geo in each("geoLocations/geoLocation"):
        if place := text_of(geo.find(ns + "geoLocationPlace")):
            d.places.append(("geoLocations/geoLocation/geoLocationPlace", place))
        box = geo.find(ns + "geoLocationBox")
        if box is not None:
            w, e = _float(box, ns, "westBoundLongitude"), _float(box, ns, "eastBoundLongitude")
            s, n = _float(box, ns, "southBoundLatitude"), _float(box, ns, "northBoundLatitude")
            if None not in (w, e, s, n) and -180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90:  # type: ignore[operator]
                d.boxes.append(("geoLocations/geoLocation/geoLocationBox", (w, s, e, n)))  # type: ignore[arg-type]
    return d


def map_datacite(record: Any, ctx: SourceContext) -> Mapped:
    """Map one OAI record whose metadata is DataCite (wrapped in ``oai_datacite`` or bare)."""
    return build(draft_of(read_record(record, ctx), ctx), ctx)
