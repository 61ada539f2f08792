"""Agent nodes every mapping writes the same way: the institution's attribution, named agents
(publisher, creator) and the contact point.

They live in one place so that an institution, a publisher or a contact looks the same in the
inventory whichever kind of catalogue it came from; a mapping decides only which source field
feeds which node (and warns about that field itself: these builders never warn).
"""

from __future__ import annotations

from functools import lru_cache

from rdflib import URIRef
from rdflib.namespace import DCAT, FOAF, PROV, RDF

from transforms.base import SourceContext
from transforms.common import Out
from transforms.rdf import VCARD, plain_literal, terms
from transforms.uris import fragment, is_http_url

DCAT, FOAF, PROV, RDF, VCARD = (terms(ns) for ns in (DCAT, FOAF, PROV, RDF, VCARD))

DISTRIBUTOR = URIRef("http://inspire.ec.europa.eu/metadata-codelist/ResponsibilityRole/distributor")


def institution(ctx: SourceContext, base: str, ds: URIRef, out: Out) -> None:
    """The institution from sources.yaml as a ``prov:qualifiedAttribution`` with the role *distributor*.

    It runs the catalogue we harvested; it is not necessarily the publisher or the creator of the data,
    so it is neither ``dct:publisher`` nor ``dct:creator``.
    """
    agent = _institution_node(ctx)
    att = fragment(base, "attribution-institution")
    out.add(ds, PROV.qualifiedAttribution, att)
    out.add(att, RDF.type, PROV.Attribution)
    out.add(att, PROV.agent, agent)
    out.add(att, DCAT.hadRole, DISTRIBUTOR)
    out.add(DISTRIBUTOR, RDF.type, DCAT.Role)
    out.add(agent, RDF.type, FOAF.Agent)
    out.add(agent, FOAF.name, plain_literal(ctx.institution.name))


@lru_cache(maxsize=64)
def _institution_node(ctx: SourceContext) -> URIRef:
    """The institution's node, built once per source rather than once per dataset."""
    inst = ctx.institution
    return URIRef(inst.uri) if inst.uri and is_http_url(inst.uri) else ctx.mint("institution")


def named_agent(base: str, ds: URIRef, prop: URIRef, stem: str, name: str, out: Out) -> URIRef:
    """A ``foaf:Agent`` known only by its name at ``<base>#<stem>``, linked from the dataset by ``prop``."""
    node = fragment(base, stem)
    out.add(ds, prop, node)
    out.add(node, RDF.type, FOAF.Agent)
    out.add(node, FOAF.name, plain_literal(name))
    return node


def contact_point(base: str, ds: URIRef, out: Out, name: str | None = None, email: str | None = None,
                  url: str | None = None) -> URIRef:
    """``dcat:contactPoint`` as a ``vcard:Kind`` at ``<base>#contact``; ``email`` is a checked address
    (no ``mailto:``), ``url`` a checked http(s) URL."""
    node = fragment(base, "contact")
    out.add(ds, DCAT.contactPoint, node)
    out.add(node, RDF.type, VCARD.Kind)
    if name:
        out.add(node, VCARD.fn, plain_literal(name))
    if email:
        out.add(node, VCARD.hasEmail, URIRef("mailto:" + email))
    if url:
        out.add(node, VCARD.hasURL, URIRef(url))
    return node


__all__ = ["DISTRIBUTOR", "contact_point", "institution", "named_agent"]
