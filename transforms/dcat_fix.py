"""Per-property rules that turn one harvested DCAT triple into valid DCAT-AP 3 triples.

The DCAT mapping is a normaliser, not a re-mapping: a triple that is already valid DCAT-AP 3 is
kept as it is; a DCAT-AP 1/2 idiom with a DCAT-AP 3 equivalent is upgraded silently (that is the
profile moving on, not the source being wrong); anything else that is broken but recoverable is
fixed with a warning naming the field, and what cannot be recovered is dropped with a warning.
Predicates without a rule pass through untouched (extension vocabularies such as DCAT-AP.de).

Each rule is ``rule(s, p, o, where, out, env)`` and writes through ``out`` (an
:class:`transforms.ckan_fields.Out`), so typing of vocabulary values follows the same
range/inScheme conventions as the CKAN mapping.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, RDFS, SKOS, XSD
from rdflib.term import Node

from transforms import vocab
from transforms.common import Out, byte_size
from transforms.dates import parse_date
from transforms.dcat_terms import (CURIE_PREFIXES, DCTYPE, EU, IANA_HTTP, SCHEMA, Env, Rule, expand_curie,
                                   iri_of, is_local)
from transforms.rdf import ADMS, DCAT_VERSION, DCATAP, GSP, LOCN, SPDX_NS, VCARD, plain_literal
from transforms.text import clean_line, to_plain_text
from transforms.uris import fragment, mailto

# ADMS status vocabulary (DCAT-AP 1/2) -> EU distribution status (DCAT-AP 3).
_ADMS_STATUS = {"completed": "COMPLETED", "deprecated": "DEPRECATED", "underdevelopment": "DEVELOP",
                "withdrawn": "WITHDRAWN"}
_CHECKSUM_ALGORITHMS = {"sha1": "sha1", "sha-1": "sha1", "sha/1": "sha1", "sha256": "sha256", "sha-256": "sha256",
                        "sha/256": "sha256", "sha512": "sha512", "sha-512": "sha512", "sha/512": "sha512",
                        "md5": "md5"}
# EU tables the validator's bridge does not ship: the graph itself states their scheme.
_UNBRIDGED = {"planned-availability", "dataset-type", "corporate-body", "country", "place", "continent"}
# The ADMS publisher type vocabulary (the one DCAT-AP names for a publisher's dct:type), code -> label.
ADMS_PUBLISHER_TYPE = "http://purl.org/adms/publishertype/"
PUBLISHER_TYPES = {"Academia-ScientificOrganisation": "Academia/Scientific organisation", "Company": "Company",
                   "IndustryConsortium": "Industry consortium", "LocalAuthority": "Local Authority",
                   "NationalAuthority": "National authority", "NonGovernmentalOrganisation": "Non-Governmental "
                   "Organisation", "NonProfitOrganisation": "Non-Profit Organisation",
                   "PrivateIndividual(s)": "Private Individual(s)", "RegionalAuthority": "Regional authority",
                   "StandardisationBody": "Standardisation body", "SupraNationalAuthority": "Supra-national authority"}
# EU planned-availability table (DCAT-AP 3's dcatap:availability), code -> English label.
AVAILABILITY = {"AVAILABLE": "available", "EXPERIMENTAL": "experimental", "STABLE": "stable",
                "TEMPORARY": "temporary"}
# ----------------------------------------------------------------------------- rules


def _url(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    iri = iri_of(o, where, out)
    if iri is None:
        out.warn(where, f"not a URL {str(o)[:120]!r}; dropped")
        return
    if is_local(str(iri)):
        out.warn(where, f"<{iri}> points at the publisher's own machine or network; dropped")
        return
    out.add(s, p, iri)
    if p in (DCAT.landingPage, FOAF.page, FOAF.homepage):
        env.type(iri, FOAF.Document)


def _resource(cls: Node | None) -> Rule:
    """A property whose value is a resource (optionally typed ``cls`` for the range shapes)."""
    def rule(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
        iri = iri_of(o, where, out)
        if iri is None:
            out.warn(where, f"{str(o)[:120]!r} is not a resource; dropped")
            return
        _concept_or(out, env, s, p, iri, cls)
    return rule


def _concept_or(out: Out, env: Env, s: Node, p: URIRef, iri: URIRef, cls: Node | None) -> None:
    value = str(iri)
    if value.startswith(ADMS_PUBLISHER_TYPE):
        label = PUBLISHER_TYPES.get(value[len(ADMS_PUBLISHER_TYPE):])
        if label:
            out.add(s, p, iri)
            out.add(iri, RDF.type, SKOS.Concept)
            out.add(iri, SKOS.inScheme, URIRef(ADMS_PUBLISHER_TYPE + "1.0"))
            out.add(iri, SKOS.prefLabel, Literal(label, lang="en"))
            return
    if value.startswith(EU):
        table = value[len(EU):].split("/", 1)[0]
        if table in _UNBRIDGED:  # the scheme only: typing it skos:Concept would demand a label we do not ship
            out.add(s, p, iri)
            out.add(iri, SKOS.inScheme, URIRef(EU + table))
            return
        out.concept(s, p, value)
        return
    out.add(s, p, iri)
    if value.startswith(str(DCTYPE)) and re.fullmatch(r"[A-Z][A-Za-z]+", value[len(str(DCTYPE)):]):
        # DCMI Type terms: their labels are their names split at capitals ("Moving Image")
        label = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", value[len(str(DCTYPE)):])
        out.add(iri, SKOS.inScheme, URIRef(str(DCTYPE)))
        out.add(iri, SKOS.prefLabel, Literal(label, lang="en"))
    if cls is not None:
        env.type(iri, cls)


def _vocabulary(lookup: Callable[[str], str | None], what: str, *, upgrade_silently: bool = True) -> Rule:
    """A property whose value must come from an EU table: any recognisable spelling → the EU concept."""
    def rule(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
        text = str(o).strip()
        if isinstance(o, Literal) and (curie := expand_curie(text)) is not None:
            out.warn(where, f"prefixed name used as a literal {text!r}; read as <{curie}>")
            text = str(curie)
        uri = lookup(text) if text else None
        if uri is None and isinstance(o, URIRef) and "/" in text:
            uri = lookup(text.rstrip("/").rsplit("/", 1)[-1])  # e.g. file-type/WMS -> WMS_SRVC
        if uri is None:
            out.warn(where, f"{text[:120]!r} is not in the EU {what} vocabulary; dropped")
            return
        if not upgrade_silently and str(o) != uri:
            out.warn(where, f"{text[:80]!r} read as <{uri}>")
        out.concept(s, p, uri)
        if p == DCTERMS.format:
            env.formats_of.setdefault(s, []).append(uri)
    return rule


def _file_type(text: str) -> str | None:
    ft = vocab.file_type(text.replace(IANA_HTTP, vocab.IANA))
    return ft.uri if ft else None


def _media_type(text: str) -> str | None:
    return vocab.media_type_uri(text.replace(IANA_HTTP, vocab.IANA))


def _media(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    uri = _media_type(str(o))
    if uri is None:
        out.warn(where, f"{str(o)[:120]!r} is not an IANA media type; dropped")
        return
    out.concept(s, p, uri)
    if p == DCAT.mediaType:
        env.media_of.setdefault(s, []).append(uri)


def _licence(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    lic = vocab.licence(str(o)) or (vocab.licence_in_text(str(o)) if isinstance(o, Literal) else None)
    if lic is not None and lic.uri:
        _concept_or(out, env, s, p, URIRef(lic.uri), DCTERMS.LicenseDocument)
        return
    iri = iri_of(o, where, out) if isinstance(o, (URIRef, Literal)) else None
    if iri is None:
        out.warn(where, f"unrecognised licence text {str(o)[:120]!r}; dropped")
        return
    out.warn(where, f"licence <{iri}> is in no known licence vocabulary; kept as a dct:LicenseDocument")
    out.add(s, p, iri)
    env.type(iri, DCTERMS.LicenseDocument)


def _date(target: URIRef | None = None) -> Rule:
    """Dates to xsd:date/dateTime/gYear(Month); ``target`` renames the property (schema:startDate)."""
    def rule(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
        if isinstance(o, URIRef):
            out.warn(where, f"an IRI <{o}> is not a date; dropped")
            return
        if not str(o).strip():
            out.warn(where, "empty date literal dropped")
            return
        parsed = parse_date(str(o))
        if not parsed:
            out.warn(where, f"{parsed.reason}; dropped")
            return
        out.add(s, target or p, parsed.literal)
    return rule


def _byte_size(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    size = byte_size(str(o)) if isinstance(o, Literal) else None
    if size is None:
        out.warn(where, f"not a byte count {str(o)[:40]!r}; dropped")
        return
    out.add(s, p, Literal(str(size), datatype=XSD.nonNegativeInteger))


def _email(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    ref = mailto(str(o))
    if ref is None:
        out.warn(where, f"not an e-mail address {str(o)[:80]!r}; dropped")
        return
    out.add(s, p, ref)


def _text(max_chars: int | None) -> Rule:
    """Titles, keywords (one line) and descriptions (plain text), language tags kept."""
    def rule(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
        if not isinstance(o, Literal):
            out.warn(where, f"<{o}> is not text; dropped")
            return
        cleaned = clean_line(str(o)) if max_chars is None else to_plain_text(str(o), max_chars).text
        if not cleaned:
            out.warn(where, "empty text dropped")
            return
        out.add(s, p, Literal(cleaned, lang=o.language) if o.language else plain_literal(cleaned))
    return rule


def _rename(target: URIRef) -> Rule:
    """A DCAT-AP 1/2 property with a DCAT-AP 3 successor (adms:contactPoint, owl:versionInfo...)."""
    def rule(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
        (RULES.get(target) or _keep)(s, target, o, where, out, env)
    return rule


def _keep(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    out.add(s, p, o)


def _agent(cls: URIRef) -> Rule:
    """Publisher/creator/contact point; a bare name literal becomes a node with that name."""
    def rule(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
        if isinstance(o, Literal):
            name = clean_line(str(o))
            if not name:
                out.warn(where, "empty value dropped")
                return
            node = fragment(env.base, f"{p.rsplit('#', 1)[-1].rsplit('/', 1)[-1]}-literal")
            out.warn(where, f"a name {name[:80]!r} instead of a node; described at <{node}>")
            out.add(s, p, node)
            if cls == VCARD.Kind:
                email = mailto(name)
                out.add(node, VCARD.hasEmail if email else VCARD.fn, email or plain_literal(name))
            else:
                out.add(node, FOAF.name, plain_literal(name))
            env.type(node, cls)
            return
        out.add(s, p, o)
        env.type(o, cls)
    return rule


def _status(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    text = str(o).strip()
    code = text[len(EU) + len("distribution-status/"):] if text.startswith(EU + "distribution-status/") \
        else _ADMS_STATUS.get(text.rstrip("/").rsplit("/", 1)[-1].lower())
    if code is None:
        out.warn(where, f"{text[:80]!r} is not an EU distribution status; dropped")
        return
    scheme = URIRef(f"{EU}distribution-status")
    out.concept(s, p, f"{EU}distribution-status/{code}")
    # The status shape checks the scheme's class; the validator's bridge supplies only the concept.
    out.add(scheme, RDF.type, SKOS.ConceptScheme)
    out.add(scheme, DCTERMS.title, Literal("Distribution status", lang="en"))


def _availability(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    text = str(o).strip()
    code = text.rstrip("/").rsplit("/", 1)[-1].upper()
    label = AVAILABILITY.get(code) if isinstance(o, URIRef) and "planned-availability/" in text or \
        isinstance(o, Literal) else None
    if label is None:
        out.warn(where, f"{text[:80]!r} is not an EU planned availability; dropped")
        return
    concept = URIRef(f"{EU}planned-availability/{code}")
    out.add(s, p, concept)
    out.add(concept, RDF.type, SKOS.Concept)
    out.add(concept, SKOS.inScheme, URIRef(f"{EU}planned-availability"))
    out.add(concept, SKOS.prefLabel, Literal(label, lang="en"))


def _algorithm(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    text = str(o).strip().lower()
    if "checksumalgorithm_" in text:  # spdx:checksumAlgorithm_sha256
        key = text.rsplit("checksumalgorithm_", 1)[-1]
    elif "hashalgorithms/" in text:  # DCAT-AP.de: http://dcat-ap.de/def/hashAlgorithms/sha/256
        key = text.split("hashalgorithms/", 1)[1].strip("/")
    else:
        key = text.rsplit("/", 1)[-1]
    name = _CHECKSUM_ALGORITHMS.get(key)
    if name is None:
        out.warn(where, f"unknown checksum algorithm {str(o)[:80]!r}; dropped")
        return
    # The DCAT-AP 3.0.1 shape requires the https form of the SPDX namespace (sh:pattern "^https://spdx.org/rdf/terms").
    algo = URIRef(f"https://spdx.org/rdf/terms#checksumAlgorithm_{name}")
    out.add(s, p, algo)
    env.type(algo, SPDX_NS.ChecksumAlgorithm)


def _geometry(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    if not isinstance(o, Literal) or not str(o).strip():
        out.warn(where, "not a geometry literal; dropped")
        return
    dt = str(o.datatype or "")
    text = str(o).strip()
    if dt in (str(GSP.wktLiteral), str(GSP.geoJSONLiteral), str(GSP.gmlLiteral)):
        out.add(s, p, o)
    elif "json" in dt or text.startswith("{"):
        try:
            geo = json.loads(text)
        except ValueError:
            out.warn(where, f"not GeoJSON {text[:60]!r}; dropped")
            return
        out.add(s, p, Literal(json.dumps(geo, separators=(",", ":"), sort_keys=True), datatype=GSP.geoJSONLiteral))
    elif re.match(r"^(SRID=\d+;)?\s*(POINT|POLYGON|MULTIPOLYGON|LINESTRING|ENVELOPE)", text, re.I):
        out.add(s, p, Literal(text, datatype=GSP.wktLiteral))
    else:
        out.warn(where, f"geometry in an unknown encoding ({dt or 'untyped'}); dropped")


def _conforms_to(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    iri = iri_of(o, where, out)
    if iri is None:
        out.warn(where, f"{str(o)[:120]!r} names no standard; dropped")
        return
    out.add(s, p, iri)
    env.type(iri, DCTERMS.Standard)


RULES: dict[URIRef, Rule] = {
    DCAT.accessURL: _url, DCAT.downloadURL: _url, DCAT.landingPage: _url, FOAF.page: _url, FOAF.homepage: _url,
    DCTERMS.format: _vocabulary(_file_type, "file type"),
    DCAT.mediaType: _media, DCAT.compressFormat: _media, DCAT.packageFormat: _media,
    DCTERMS.accrualPeriodicity: _vocabulary(vocab.frequency, "frequency"),
    DCTERMS.language: _vocabulary(vocab.language, "language"),
    DCAT.theme: _resource(SKOS.Concept),
    DCTERMS.type: _resource(SKOS.Concept),
    DCTERMS.accessRights: _resource(DCTERMS.RightsStatement),
    DCTERMS.rights: _resource(DCTERMS.RightsStatement),
    DCTERMS.license: _licence,
    DCTERMS.conformsTo: _conforms_to,
    DCTERMS.spatial: _resource(DCTERMS.Location),
    DCTERMS.temporal: _resource(DCTERMS.PeriodOfTime),
    DCAT.distribution: _resource(DCAT.Distribution),
    DCAT.accessService: _resource(DCAT.DataService),
    DCATAP.applicableLegislation: _resource(URIRef("http://data.europa.eu/eli/ontology#LegalResource")),
    DCATAP.availability: _availability,
    DCATAP.hvdCategory: _resource(None),
    ADMS.status: _status,
    DCTERMS.issued: _date(), DCTERMS.modified: _date(),
    DCAT.startDate: _date(), DCAT.endDate: _date(),
    SCHEMA.startDate: _date(DCAT.startDate), SCHEMA.endDate: _date(DCAT.endDate),
    DCAT.byteSize: _byte_size,
    VCARD.hasEmail: _email, FOAF.mbox: _email,
    DCTERMS.title: _text(None), DCAT.keyword: _text(None), VCARD.fn: _text(None), FOAF.name: _text(None),
    DCTERMS.description: _text(20_000),
    DCTERMS.publisher: _agent(FOAF.Agent), DCTERMS.creator: _agent(FOAF.Agent),
    DCAT.contactPoint: _agent(VCARD.Kind),
    ADMS.contactPoint: _rename(DCAT.contactPoint),
    OWL.versionInfo: _rename(DCAT_VERSION),
    DCTERMS.hasVersion: _rename(URIRef(str(DCAT) + "hasVersion")),
    DCTERMS.isVersionOf: _rename(URIRef(str(DCAT) + "isVersionOf")),
    SPDX_NS.algorithm: _algorithm,
    LOCN.geometry: _geometry, DCAT.bbox: _geometry,
    RDFS.label: _text(None),
}


def apply(s: Node, p: URIRef, o: Node, where: str, out: Out, env: Env) -> None:
    """Run the rule for ``p`` (or keep the triple); typed literals with an empty lexical form are dropped."""
    if p == RDF.type and isinstance(o, Literal):
        iri = iri_of(o, where, out)
        if iri is not None:
            out.add(s, p, iri)
        return
    rule = RULES.get(p)
    if rule is None:
        if isinstance(o, Literal) and o.datatype is not None and not str(o).strip():
            out.warn(where, f"empty {o.datatype.rsplit('#', 1)[-1]} literal dropped")
            return
        out.add(s, p, o)
        return
    rule(s, p, o, where, out, env)


URL_PROPERTIES = frozenset({DCAT.accessURL, DCAT.downloadURL, DCAT.landingPage, FOAF.page, FOAF.homepage})

__all__ = ["CURIE_PREFIXES", "Env", "RULES", "URL_PROPERTIES", "apply", "expand_curie", "iri_of", "is_local"]
