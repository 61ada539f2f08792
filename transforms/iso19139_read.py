"""Read an ISO 19139 ``gmd:MD_Metadata`` / 19139-2 ``gmi:MI_Metadata`` into a :class:`GeoDraft`.

Real records are untidy in ways that break naive readers, so every value goes through :func:`value`:
it reads the typed child (``gco:CharacterString``, ``gmx:Anchor``, ``gco:Date``, ``gmd:URL``...) and
never the container's own text, so stray text nodes between elements (the Welsh GEMINI record has "-"
inside ``MD_ReferenceSystem`` and ``EX_TemporalExtent``) never leak into values; codelist elements give
``codeListValue`` even when their text is empty (GEMINI and GeoNetwork leave it empty); ``gco:nilReason``
elements with no value read as empty. Both GML namespaces (3.1.1 and 3.2) are read for time periods.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from transforms.geo_draft import GeoDraft, Keyword, Online, Party, Rights, squash

GMD = "http://www.isotc211.org/2005/gmd"
GMI = "http://www.isotc211.org/2005/gmi"
GCO = "http://www.isotc211.org/2005/gco"
GMX = "http://www.isotc211.org/2005/gmx"
SRV = "http://www.isotc211.org/2005/srv"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
INSPIRE_THEME = "inspire.ec.europa.eu/theme/"
GML_NS = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
NS = {"gmd": GMD, "gco": GCO, "gmx": GMX, "srv": SRV, "gmi": GMI}
ROOTS = {f"{{{GMD}}}MD_Metadata", f"{{{GMI}}}MI_Metadata"}
_VALUE_TAGS = {f"{{{GCO}}}{n}" for n in ("CharacterString", "Decimal", "Real", "Integer", "Date", "DateTime",
                                        "Boolean", "Measure", "Distance")} | {f"{{{GMX}}}Anchor",
                                                                              f"{{{GMD}}}URL",
                                                                              f"{{{GMX}}}FileName"}


def value(el: ET.Element | None) -> str:
    """The value of a property element: its typed child's text, a codelist value, or its own leaf text."""
    if el is None:
        return ""
    for child in el:
        if child.tag in _VALUE_TAGS:
            return squash("".join(child.itertext()))
        if "codeListValue" in child.attrib:
            return squash(child.get("codeListValue")) or squash(child.text)
        if child.tag == f"{{{GMD}}}PT_FreeText":
            continue
    if "codeListValue" in el.attrib:
        return squash(el.get("codeListValue")) or squash(el.text)
    if not len(el):
        return squash(el.text)
    leaf = next((c for c in el if not len(c) and c.tag != f"{{{GMD}}}PT_FreeText"), None)
    return squash(leaf.text) if leaf is not None else ""  # enumerations such as MD_TopicCategoryCode


def display(el: ET.Element | None) -> str:
    """Like :func:`value`, but a codelist's text wins over its code (``cc-by4.0`` vs ``CC-By 4.0``)."""
    if el is not None:
        for child in el:
            if "codeListValue" in child.attrib and squash(child.text):
                return squash(child.text)
    return value(el)


def href(el: ET.Element | None) -> str:
    """The ``xlink:href`` of a property's ``gmx:Anchor`` (or of the property itself)."""
    if el is None:
        return ""
    anchor = el.find("gmx:Anchor", NS)
    return squash((anchor if anchor is not None else el).get(XLINK_HREF))


def _f(el: ET.Element | None, path: str) -> str:
    return value(el.find(path, NS)) if el is not None else ""


ROLE_FIELDS = ("publisher", "pointOfContact", "owner", "originator", "author", "custodian")


def _party(el: ET.Element, field: str | None = None) -> Party:
    """A CI_ResponsibleParty; its field is ``pointOfContact[<role>]`` (``[other]`` for the rarer roles)."""
    contact = el.find("gmd:contactInfo/gmd:CI_Contact", NS)
    role = _f(el, "gmd:role")
    field = field or f"pointOfContact[{role if role in ROLE_FIELDS else 'other'}]"
    return Party(field=field, role=role, organisation=_f(el, "gmd:organisationName"),
                 individual=_f(el, "gmd:individualName"),
                 email=_f(contact, "gmd:address/gmd:CI_Address/gmd:electronicMailAddress"),
                 url=_f(contact, "gmd:onlineResource/gmd:CI_OnlineResource/gmd:linkage"))


def _time_position(period: ET.Element, gml: str, edge: str) -> str:
    """``beginPosition``/``endPosition`` or ``begin/TimeInstant/timePosition``; "" when empty or indeterminate."""
    pos = period.find(f"{{{gml}}}{edge}Position")
    if pos is None:
        pos = period.find(f"{{{gml}}}{edge}/{{{gml}}}TimeInstant/{{{gml}}}timePosition")
    if pos is None:
        return ""
    return squash(pos.text)


def _extent(ext: ET.Element, d: GeoDraft) -> None:
    for box in ext.iterfind("gmd:geographicElement/gmd:EX_GeographicBoundingBox", NS):
        parts = [_f(box, f"gmd:{n}") for n in ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude",
                                               "northBoundLatitude")]
        try:
            w, s, e, n = (float(p) for p in parts)
        except ValueError:
            d.boxes.append(("extent/geographicBoundingBox", (float("nan"),) * 4))
            continue
        d.boxes.append(("extent/geographicBoundingBox", (w, s, e, n)))
    for desc in ext.iterfind("gmd:geographicElement/gmd:EX_GeographicDescription/gmd:geographicIdentifier/*", NS):
        if code := _f(desc, "gmd:code"):
            d.places.append(("extent/geographicDescription", code))
    if label := _f(ext, "gmd:description"):
        d.places.append(("extent/description", label))
    for temporal in ext.iterfind("gmd:temporalElement/*/gmd:extent", NS):
        for gml in GML_NS:
            period = temporal.find(f"{{{gml}}}TimePeriod")
            if period is not None and any(edges := (_time_position(period, gml, "begin"),
                                                   _time_position(period, gml, "end"))):
                d.periods.append(("extent/temporalExtent", *edges))
            instant = temporal.find(f"{{{gml}}}TimeInstant/{{{gml}}}timePosition")
            if instant is not None and squash(instant.text):
                d.periods.append(("extent/temporalExtent", squash(instant.text), squash(instant.text)))


def _constraints(ident: ET.Element, d: GeoDraft) -> None:
    for block in ident.iterfind("gmd:resourceConstraints/*", NS):
        for el in block.iterfind("gmd:useLimitation", NS):
            if (text := display(el)) or href(el):
                d.rights.append(Rights("useLimitation", text, href(el)))
        access_codes = [c for el in block.iterfind("gmd:accessConstraints", NS) if (c := value(el))]
        use_codes = [c for el in block.iterfind("gmd:useConstraints", NS) if (c := value(el))]
        d.access_codes += [("accessConstraints", c) for c in access_codes]
        for el in block.iterfind("gmd:otherConstraints", NS):
            if (text := display(el)) or href(el):
                access = bool(access_codes) and not use_codes
                d.rights.append(Rights("otherConstraints[access]" if access else "otherConstraints", text, href(el),
                                       access=access))


def _online(root: ET.Element, d: GeoDraft) -> None:
    dist = root.find("gmd:distributionInfo", NS)
    if dist is None:
        return
    # transfer options only: a distributor's contact details hold CI_OnlineResources too (its home page)
    resources = [res for opts in dist.iter(f"{{{GMD}}}MD_DigitalTransferOptions")
                 for res in opts.iterfind("gmd:onLine/gmd:CI_OnlineResource", NS)]
    for res in resources:
        url = _f(res, "gmd:linkage")
        if url:
            d.online.append(Online("distributionInfo/onLine", url, protocol=_f(res, "gmd:protocol"),
                                   name=_f(res, "gmd:name"), description=_f(res, "gmd:description"),
                                   function=_f(res, "gmd:function")))
    for fmt in dist.iter(f"{{{GMD}}}MD_Format"):
        if name := _f(fmt, "gmd:name"):
            d.formats.append(("distributionFormat/name", name))


def read_iso(root: ET.Element, native_id: str) -> GeoDraft:
    """Everything the mapping uses from an ISO record (the first identificationInfo describes the resource)."""
    d = GeoDraft(native_id=native_id, schema="iso19139")
    stamp = _f(root, "gmd:dateStamp")
    d.date_stamp = ("dateStamp", stamp) if stamp else None
    d.hierarchy = _f(root, "gmd:hierarchyLevel")
    if lang := _f(root, "gmd:language"):
        d.metadata_language = ("language", lang)
    d.metadata_contacts = [_party(p, "contact") for p in root.iterfind("gmd:contact/gmd:CI_ResponsibleParty", NS)]
    if statement := _f(root, "gmd:dataQualityInfo/gmd:DQ_DataQuality/gmd:lineage/gmd:LI_Lineage/gmd:statement"):
        d.lineage = ("lineage/statement", statement)
    _online(root, d)
    ident = root.find("gmd:identificationInfo/*", NS)
    if ident is None:
        return d
    cit = ident.find("gmd:citation/gmd:CI_Citation", NS)
    if cit is not None:
        if title := _f(cit, "gmd:title"):
            d.titles.append(("citation/title", title))
        for idf in cit.iterfind("gmd:identifier/*", NS):
            if code := _f(idf, "gmd:code"):
                d.identifiers.append(("citation/identifier", code))
        for ci_date in cit.iterfind("gmd:date/gmd:CI_Date", NS):
            kind, when = _f(ci_date, "gmd:dateType"), _f(ci_date, "gmd:date")
            target = {"creation": d.created, "publication": d.issued, "revision": d.modified}.get(kind)
            if when and target is not None:
                target.append((f"citation/date[{kind}]", when))
    if abstract := _f(ident, "gmd:abstract"):
        d.abstracts.append(("abstract", abstract))
    d.parties = [_party(p) for p in ident.iterfind("gmd:pointOfContact/gmd:CI_ResponsibleParty", NS)]
    for kws in ident.iterfind("gmd:descriptiveKeywords/gmd:MD_Keywords", NS):
        thesaurus = _f(kws, "gmd:thesaurusName/gmd:CI_Citation/gmd:title")
        inspire = "inspire" in thesaurus.lower() and "them" in thesaurus.lower()
        for kw in kws.iterfind("gmd:keyword", NS):
            link = href(kw)
            field = "descriptiveKeywords[INSPIRE themes]" if inspire or INSPIRE_THEME in link \
                else "descriptiveKeywords/keyword"
            if (text := value(kw)) or link:
                d.keywords.append(Keyword(field, text, thesaurus, link))
    d.topics = [("topicCategory", t) for el in ident.iterfind("gmd:topicCategory", NS) if (t := value(el))]
    d.languages = [("identificationInfo/language", v) for el in ident.iterfind("gmd:language", NS) if (v := value(el))]
    for ext in [*ident.iterfind("gmd:extent/gmd:EX_Extent", NS), *ident.iterfind("srv:extent/gmd:EX_Extent", NS)]:
        _extent(ext, d)
    _constraints(ident, d)
    freq = _f(ident, "gmd:resourceMaintenance/gmd:MD_MaintenanceInformation/gmd:maintenanceAndUpdateFrequency")
    if freq:
        d.frequency = ("maintenanceAndUpdateFrequency", freq)
    return d


__all__ = ["GMD", "GMI", "NS", "ROOTS", "href", "read_iso", "value"]
