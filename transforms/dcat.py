"""A harvested DCAT dataset description (N-Triples) → DCAT-AP 3 triples + flat row.

The source already speaks DCAT, so this is a normaliser (docs/mapping-dcat.md, checked against
``FIELD_MAP``): keep what is valid, upgrade DCAT-AP 1/2 idioms (``transforms.dcat_fix``), fix what
real feeds break, warn on the rest. Decisions worth knowing:

* **Dataset URI**: the source's IRI when it is an absolute http(s) IRI on a public host. A blank-node
  dataset, a non-http IRI (``urn:``) or a ``localhost``/private-network IRI (a portal that never set
  its public URL) gets the minted ``<base>/dataset/<source>/<native id>``; the original IRI is kept
  as a ``dct:identifier`` literal.
* **Skolemisation**: blank nodes, and subjects whose IRI is local, are renamed under the minted path by
  the predicate path that reaches them from the dataset, numbered in a content order that does not
  depend on the parser's labels: ``#distribution-1``, ``#distribution-1-checksum-1``,
  ``#contactPoint-1``, ``#temporal-1``. So the stored graph has no blank nodes and the same input gives
  the same IRIs on every run.
* **Ours, not the source's**: a ``dcat:CatalogRecord`` ``#record`` (``dct:modified`` = the source's
  modification time, never harvest time) and the institution from sources.yaml as a
  ``prov:qualifiedAttribution`` with the role *distributor*, as for CKAN.
* The flat row is read from the output graph, so it agrees with what is stored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rdflib import BNode, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF
from rdflib.term import Node

from transforms import vocab
from transforms.agents import institution
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import Out
from transforms.dates import parse_date
from transforms.dcat_fix import URL_PROPERTIES, apply
from transforms.dcat_terms import CURIE_PREFIXES, Env, is_local
from transforms.rdf import GSP, LOCN, parse_ntriples, plain_literal
from transforms.records import DCAT_AP_3, catalog_record
from transforms.row import empty_row
from transforms.uris import fragment, is_http_url

# Source property path (from the dataset node) → output property paths. "^p" = inverse step, "@id" = the
# dataset node. docs/mapping-dcat.md renders this table; tests/test_dcat_mapping.py checks both ways.
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "@id": ("@id", "dct:identifier"),
    "dct:title": ("dct:title",),
    "dct:description": ("dct:description",),
    "dct:identifier": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "dcat:keyword": ("dcat:keyword",),
    "dcat:theme": ("dcat:theme",),
    "dct:type": ("dct:type",),
    "dct:publisher": ("dct:publisher",),
    "dct:publisher/foaf:name": ("dct:publisher/foaf:name",),
    "dct:creator": ("dct:creator",),
    "dcat:contactPoint": ("dcat:contactPoint",),
    "adms:contactPoint": ("dcat:contactPoint",),
    "dcat:contactPoint/vcard:fn": ("dcat:contactPoint/vcard:fn",),
    "dcat:contactPoint/vcard:hasEmail": ("dcat:contactPoint/vcard:hasEmail",),
    "dct:license": ("dct:license",),
    "dct:accessRights": ("dct:accessRights",),
    "dct:conformsTo": ("dct:conformsTo",),
    "dct:issued": ("dct:issued",),
    "dct:modified": ("dct:modified", "^foaf:primaryTopic/dct:modified"),
    "dct:accrualPeriodicity": ("dct:accrualPeriodicity",),
    "dct:language": ("dct:language",),
    "dct:spatial": ("dct:spatial",),
    "dct:spatial/locn:geometry": ("dct:spatial/locn:geometry",),
    "dct:temporal": ("dct:temporal",),
    "dct:temporal/dcat:startDate": ("dct:temporal/dcat:startDate",),
    "dct:temporal/schema:startDate": ("dct:temporal/dcat:startDate",),
    "dct:temporal/schema:endDate": ("dct:temporal/dcat:endDate",),
    "dcat:landingPage": ("dcat:landingPage",),
    "owl:versionInfo": ("dcat:version",),
    "dcat:distribution": ("dcat:distribution",),
    "dcat:distribution/dcat:accessURL": ("dcat:distribution/dcat:accessURL",),
    "dcat:distribution/dcat:downloadURL": ("dcat:distribution/dcat:downloadURL",),
    "dcat:distribution/dct:title": ("dcat:distribution/dct:title",),
    "dcat:distribution/dct:format": ("dcat:distribution/dct:format",),
    "dcat:distribution/dcat:mediaType": ("dcat:distribution/dcat:mediaType",),
    "dcat:distribution/dcat:byteSize": ("dcat:distribution/dcat:byteSize",),
    "dcat:distribution/dct:license": ("dcat:distribution/dct:license",),
    "dcat:distribution/adms:status": ("dcat:distribution/adms:status",),
    "dcat:distribution/spdx:checksum/spdx:algorithm": ("dcat:distribution/spdx:checksum/spdx:algorithm",),
}


def _curie(iri: str) -> str:
    for prefix, ns in CURIE_PREFIXES.items():
        if iri.startswith(ns) and prefix not in ("dcterms",):
            return f"{prefix}:{iri[len(ns):]}"
    return f"<{iri}>"


def _local_name(iri: str) -> str:
    return iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1] or "node"


def _find_root(triples: list, native_id: str, ctx: SourceContext) -> Node:
    typed = [s for s, p, o in triples if p == RDF.type and o == DCAT.Dataset]
    for s in typed:
        if str(s) == native_id:
            return s
    objects = {o for _, _, o in triples}
    roots = [s for s in dict.fromkeys(typed) if s not in objects] or list(dict.fromkeys(typed))
    if not roots:
        raise MappingError("the description has no node typed dcat:Dataset", source_id=ctx.source_id,
                           native_id=native_id, field="rdf:type")
    return roots[0]


def _skolemise(triples: list, root: Node, ds: URIRef, base: str) -> tuple[dict[Node, Node], dict[Node, str]]:
    """New names for blank nodes and local-IRI subjects (by predicate path), and each node's role path."""
    by_s: dict[Node, list] = defaultdict(list)
    for t in triples:
        by_s[t[0]].append(t)

    def needs_name(n: Node) -> bool:
        return isinstance(n, BNode) or (isinstance(n, URIRef) and n in by_s and
                                        (not is_http_url(str(n)) or is_local(str(n))))

    def order(t: tuple) -> tuple[str, str]:
        o = t[2]
        if needs_name(o):
            return str(t[1]), "\x00" + "\n".join(sorted(f"{p} {x}" for _, p, x in by_s.get(o, ()) if not needs_name(x)))
        return str(t[1]), str(o)

    names: dict[Node, Node] = {root: ds}
    roles: dict[Node, str] = {root: ""}
    labels: dict[Node, str] = {root: ""}
    queue = [root]
    while queue:
        node = queue.pop(0)
        counters: dict[str, int] = defaultdict(int)
        for _, p, o in sorted(by_s.get(node, ()), key=order):
            if o in roles or not (needs_name(o) or (isinstance(o, URIRef) and o in by_s)):
                continue
            local = _local_name(str(p))
            counters[local] += 1
            roles[o] = f"{roles[node]}/{_curie(str(p))}[{counters[local]}]".lstrip("/")
            labels[o] = f"{labels[node]}-{local}-{counters[local]}".lstrip("-")
            if needs_name(o):
                names[o] = fragment(base, labels[o])
            queue.append(o)
    for n in by_s:  # unreachable blank nodes (should not happen in a CBD): stable by content
        if needs_name(n) and n not in names:
            import hashlib
            digest = hashlib.sha256("\n".join(sorted(f"{p} {o}" for _, p, o in by_s[n])).encode()).hexdigest()[:16]
            names[n] = fragment(base, f"node-{digest}")
            roles[n] = "?"
    return names, roles


def map_dataset(record: Any, ctx: SourceContext) -> Mapped:
    """Map one harvested DCAT dataset description; field problems become warnings, an unmappable record
    raises :class:`MappingError` naming the source, the record and the field."""
    native_id = str(getattr(record, "native_id", "") or "").strip()
    payload = getattr(record, "payload", record)
    if not native_id:
        raise MappingError("record has no native id", source_id=ctx.source_id, native_id="?", field="native_id")
    if not isinstance(payload, str):
        raise MappingError(f"payload is a {type(payload).__name__}, not N-Triples text", source_id=ctx.source_id,
                           native_id=native_id, field="payload")
    try:
        triples = parse_ntriples(payload)
    except SyntaxError as exc:
        raise MappingError(f"payload is not N-Triples: {str(exc)[:200]}", source_id=ctx.source_id,
                           native_id=native_id, field="payload") from None
    root = _find_root(triples, native_id, ctx)
    out = Out()
    base = str(ctx.mint("dataset", native_id))
    keep_iri = isinstance(root, URIRef) and is_http_url(str(root)) and not is_local(str(root))
    ds = root if keep_iri else URIRef(base)
    if isinstance(root, URIRef) and not keep_iri:
        why = "is local to the publisher's network" if is_local(str(root)) else "is not an http(s) IRI"
        out.warn("@id", f"<{root}> {why}; minted <{ds}>, the original kept as dct:identifier")
        out.add(ds, DCTERMS.identifier, plain_literal(str(root)))

    names, roles = _skolemise(triples, root, ds, base)
    env = Env(base=base, dataset=ds)
    for s, p, o in triples:
        # a URL is an address, not a node: a local one is dropped by its rule, never renamed
        s2, o2 = names.get(s, s), (o if p in URL_PROPERTIES else names.get(o, o))
        role = roles.get(s, "?")
        apply(s2, p, o2, f"{role}/{_curie(str(p))}".lstrip("/"), out, env)

    _complete(out, env, ds, {names.get(n, n): r for n, r in roles.items()})
    title = _first_text(out.triples, ds, DCTERMS.title)
    if not title:
        raise MappingError("no dct:title (mandatory in DCAT-AP 3)", source_id=ctx.source_id, native_id=native_id,
                           field="dct:title")
    if not _first_text(out.triples, ds, DCTERMS.description):
        out.warn("dct:description", "no description (dct:description is mandatory in DCAT-AP)")
    institution(ctx, base, ds, out)
    identifier = _first_text(out.triples, ds, DCTERMS.identifier)
    if identifier is None:
        identifier = native_id
        out.add(ds, DCTERMS.identifier, plain_literal(native_id))
    _catalog_record(base, ds, identifier, getattr(record, "source_modified", None), out)
    from transforms.dcat_row import row_of  # the flat row is read back from the finished graph

    row = empty_row()
    row.update(row_of(out.triples, ds))
    row.update(uri=str(ds), source_id=ctx.source_id, native_id=native_id, identifier=identifier,
               institution=ctx.institution.name)
    return Mapped(uri=str(ds), native_id=native_id, triples=out.triples, row=row, warnings=out.warnings)


def _first_text(triples: list, s: Node, p: URIRef) -> str | None:
    found = [o for s2, p2, o in triples if s2 == s and p2 == p and isinstance(o, Literal) and str(o).strip()]
    found.sort(key=lambda o: (o.language not in (None, "en"), o.language or ""))
    return str(found[0]) if found else None


def _complete(out: Out, env: Env, ds: URIRef, roles: dict[Node, str]) -> None:
    """Typing the range shapes need, and what DCAT-AP 3 makes mandatory on distributions."""
    out.add(ds, RDF.type, DCAT.Dataset)
    have = {(s, o) for s, p, o in out.triples if p == RDF.type}
    for node, classes in env.typed.items():
        for cls in classes:
            if (node, cls) not in have:
                out.add(node, RDF.type, cls)
    by_sp: dict[tuple[Node, Node], list[Node]] = defaultdict(list)
    for s, p, o in out.triples:
        by_sp[(s, p)].append(o)
    for (s, p), values in list(by_sp.items()):
        if p == LOCN.geometry and len(set(values)) > 1:  # at most one per location: WKT, the GeoSPARQL default
            keep = next((v for v in values if getattr(v, "datatype", None) == GSP.wktLiteral), values[0])
            out.triples = [t for t in out.triples if not (t[0] == s and t[1] == p and t[2] != keep)]
            out.warn(f"{roles.get(s, '?')}/locn:geometry", f"{len(set(values))} geometries on one location "
                                                          f"(at most 1); kept the {keep.datatype.rsplit('#', 1)[-1]}")
    landing = next(iter(by_sp.get((ds, DCAT.landingPage), [])), None)
    for n, dist in enumerate(by_sp.get((ds, DCAT.distribution), []), 1):
        where = f"dcat:distribution[{n}]"
        formats = sorted(set(env.formats_of.get(dist, [])))
        if len(formats) > 1:  # DCAT-AP 3 allows one dct:format per distribution
            out.triples = [t for t in out.triples if not (t[0] == dist and t[1] == DCTERMS.format
                                                          and str(t[2]) in formats[1:])]
            out.warn(f"{where}/dct:format", f"{len(formats)} formats on one distribution (at most 1); kept "
                                            f"<{formats[0]}>, dropped {', '.join(f'<{f}>' for f in formats[1:])}")
            env.formats_of[dist] = formats[:1]
        if formats and not env.media_of.get(dist):
            ft = vocab.file_type(formats[0])
            mt = vocab.media_type_uri(ft.media_type) if ft and ft.media_type else None
            if mt:
                out.concept(dist, DCAT.mediaType, mt)
        if not by_sp.get((dist, DCAT.accessURL)):
            fallback = next(iter(by_sp.get((dist, DCAT.downloadURL), [])), None) or landing
            if fallback is not None:
                out.add(dist, DCAT.accessURL, fallback)
                out.warn(f"{where}/dcat:accessURL", f"missing (mandatory); <{fallback}> used")
            else:
                out.warn(f"{where}/dcat:accessURL", "missing (mandatory) and nothing to fall back to")
        if not env.formats_of.get(dist):
            ft = next((vocab.file_type(m) for m in env.media_of.get(dist, [])), None)
            url = next(iter(by_sp.get((dist, DCAT.downloadURL), []) or by_sp.get((dist, DCAT.accessURL), [])), None)
            ft = ft or (vocab.file_type_for_url(str(url)) if url is not None else None)
            if ft is not None:
                out.concept(dist, DCTERMS.format, ft.uri)


def _catalog_record(base: str, ds: URIRef, identifier: str, source_modified: Any, out: Out) -> None:
    """``#record`` dated by the feed's own record date, else by the dataset's ``dct:modified``."""
    when = parse_date(source_modified) if source_modified else None
    if not when:
        when = next((parse_date(str(o)) for s, p, o in out.triples if s == ds and p == DCTERMS.modified), None)
    catalog_record(base, ds, identifier, when, out, missing=(
        "dct:modified", "no modification time: the catalogue record has no dct:modified (mandatory)"))


__all__ = ["DCAT_AP_3", "FIELD_MAP", "map_dataset"]
