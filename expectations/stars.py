"""Tim Berners-Lee's 5-star open data level of one dataset, judged from its DCAT metadata.

The stars are about the *data*, and we only ever see its description, so each level is a rule over
the metadata that stands in for it (docs/mqa.md lists them). The rules reuse what the rest of the
project already decided: the licence's openness is ``transforms.vocab.licence(...).open`` (the Open
Definition verdicts the mappings use for the flat row's ``licence_open``), and machine-readable /
non-proprietary are data.europa.eu's MQA format lists, exactly as the MQA score reads them.

Each level needs the ones below it: a CSV without an open licence is 0 stars, not 3.
"""

from __future__ import annotations

from functools import lru_cache

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, OWL, RDFS

from expectations.mqa import USED_PREDICATES, _format_facts, _ft_of, _media_facts, vocabularies
from expectations.ntparse import Index, dataset_node, index, iri, iri_value
from transforms import vocab
from transforms.vocab_base import _url_key

_DISTRIBUTION, _LICENSE, _FORMAT, _MEDIA_TYPE = (iri(t) for t in (DCAT.distribution, DCTERMS.license, DCTERMS.format,
                                                                DCAT.mediaType))
# Serialisations whose content is RDF (things named by URIs), and SPARQL endpoints.
RDF_FILE_TYPES = frozenset({"RDF", "RDF_XML", "RDF_TURTLE", "RDF_N_TRIPLES", "RDF_N_QUADS", "RDF_TRIG", "RDF_TRIX",
                            "RDF_THRIFT", "RDFA", "JSON_LD", "N3", "SPARQLQ"})
# Dataset-level links to other resources (star 5). DCAT 3's inSeries, hasVersion, isVersionOf and
# previousVersion are not in rdflib's DCAT 2 namespace.
LINK_PREDICATES = frozenset(iri(t) for t in (
    DCTERMS.relation, DCTERMS.references, DCTERMS.isReferencedBy, DCTERMS.source, DCTERMS.hasVersion,
    DCTERMS.isVersionOf, DCTERMS.hasPart, DCTERMS.isPartOf, DCTERMS.requires, DCTERMS.isRequiredBy,
    DCTERMS.replaces, DCTERMS.isReplacedBy, DCAT.qualifiedRelation, OWL.sameAs, RDFS.seeAlso,
    *(URIRef(str(DCAT) + name) for name in ("inSeries", "hasVersion", "isVersionOf", "previousVersion"))))


ASSESS_PREDICATES = USED_PREDICATES | LINK_PREDICATES  # what MQA + stars read from one parse


@lru_cache(maxsize=4096)
def _open_licence(term: str) -> bool:
    value = iri_value(term)
    if value is None:
        return False
    lic = vocab.licence(value)
    if lic is None:  # a national alias data.europa.eu maps to an EU licence (dcat-ap.de cc-zero -> CC0)
        canonical = vocabularies().licence_aliases.get(_url_key(value))
        lic = vocab.licence(canonical) if canonical else None
    return bool(lic and lic.open)


@lru_cache(maxsize=4096)
def _is_rdf(term: str) -> bool:
    ft = _ft_of(term)
    return ft is not None and ft.code in RDF_FILE_TYPES


def five_star(nt: str) -> int:
    """0-5 for the dataset in ``nt`` (canonical N-Triples); ValueError when it holds no dcat:Dataset."""
    return stars_of(index(nt, ASSESS_PREDICATES))


def stars_of(idx: Index, ds: str | None = None) -> int:
    """:func:`five_star` on an already parsed graph (``ds``: its dataset node, when the caller knows it)."""
    ds = ds or dataset_node(idx)
    if ds is None:
        raise ValueError("no subject typed dcat:Dataset in the N-Triples; pass one dataset's graph")
    d = idx[ds]
    dists = [idx.get(o, {}) for o in d.get(_DISTRIBUTION, ()) if o.startswith("<")]
    licences = [*d.get(_LICENSE, ()), *(t for dp in dists for t in dp.get(_LICENSE, ()))]
    if not any(_open_licence(t) for t in licences):
        return 0
    machine_readable = non_proprietary_too = rdf = False
    for dp in dists:
        facts = [_format_facts(t) for t in dp.get(_FORMAT, ())] + [_media_facts(t) for t in dp.get(_MEDIA_TYPE, ())]
        mr = any(f[1] for f in facts)
        machine_readable |= mr
        non_proprietary_too |= mr and any(f[2] for f in facts)
        rdf |= any(_is_rdf(t) for t in (*dp.get(_FORMAT, ()), *dp.get(_MEDIA_TYPE, ())))
    if not machine_readable:
        return 1
    if not non_proprietary_too:
        return 2
    if not rdf:
        return 3
    own = ds[:-1] + "#"  # the dataset's own nodes (record, publisher...) are not links to other data
    linked = any(o.startswith("<") and not o.startswith(own) and o != ds
                 for p, objs in d.items() if p in LINK_PREDICATES for o in objs)
    return 5 if linked else 4


__all__ = ["LINK_PREDICATES", "RDF_FILE_TYPES", "five_star", "stars_of"]
