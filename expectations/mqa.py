"""The data.europa.eu Metadata Quality Assessment (MQA) score of one dataset, from its N-Triples.

The institute compares institutions by the method data.europa.eu applies to every European portal,
so the indicator table, the points and the rating bands are read from the shipped copy of the
methodology (``mqa_data/mqa_indicators.csv``) instead of being retyped here, and the format lists
are data.europa.eu's own (``mqa_data/edp-*-format.ttl``). Where the method leaves a choice open
(how several distributions add up, what counts as "from the vocabulary"), the choice is made once,
in this module, and written down in docs/mqa.md.

Pure: no I/O after the shipped tables are loaded once. Link accessibility and DCAT-AP compliance are
measured elsewhere (``expectations.linkcheck``, ``expectations.shacl``) and passed in; when they were
not measured the indicators are ``None`` ("not checked") rather than zero, so switching the link
checker off never reads as broken links.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from expectations.ntparse import Index, dataset_node, index, iri, iri_value
from transforms import vocab
from transforms.vocab_base import IANA, _rows, _url_key

MQA_DATA = Path(__file__).with_name("mqa_data")
DIMENSIONS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")

# predicates in N-Triples spelling
_KEYWORD, _THEME, _SPATIAL, _TEMPORAL = (iri(t) for t in (DCAT.keyword, DCAT.theme, DCTERMS.spatial,
                                                          DCTERMS.temporal))
_DISTRIBUTION, _ACCESS_URL, _DOWNLOAD_URL = (iri(t) for t in (DCAT.distribution, DCAT.accessURL, DCAT.downloadURL))
_FORMAT, _MEDIA_TYPE, _LICENSE, _RIGHTS = (iri(t) for t in (DCTERMS.format, DCAT.mediaType, DCTERMS.license,
                                                            DCTERMS.rights))
_ACCESS_RIGHTS, _CONTACT, _PUBLISHER = (iri(t) for t in (DCTERMS.accessRights, DCAT.contactPoint, DCTERMS.publisher))
_BYTE_SIZE, _ISSUED, _MODIFIED = (iri(t) for t in (DCAT.byteSize, DCTERMS.issued, DCTERMS.modified))

# every predicate the MQA and 5-star rules read (the parse keeps only these)
USED_PREDICATES = frozenset({iri(RDF.type), iri(FOAF.primaryTopic), _KEYWORD, _THEME, _SPATIAL, _TEMPORAL,
                             _DISTRIBUTION, _ACCESS_URL, _DOWNLOAD_URL, _FORMAT, _MEDIA_TYPE, _LICENSE, _RIGHTS,
                             _ACCESS_RIGHTS, _CONTACT, _PUBLISHER, _BYTE_SIZE, _ISSUED, _MODIFIED})

_IANA_HTTP = IANA.replace("https://", "http://", 1)

# Indicators measured on distributions that make up the interoperability dimension: the methodology
# scores them on the single distribution with the most points (see docs/mqa.md).
_INTEROP_DIST = ("Format", "Media type", "Format / Media type from vocabulary", "Non-proprietary",
                 "Machine readable")


# --------------------------------------------------------------------------- the shipped method


@dataclass(frozen=True)
class Indicator:
    dimension: str  # lower case
    name: str
    computed_on: str  # "Dataset" or "Distribution"
    points: int
    metric: str  # piveau DQV metric IRI


@dataclass(frozen=True)
class Method:
    indicators: tuple[Indicator, ...]
    dimension_max: dict[str, int]
    total_max: int
    bands: tuple[tuple[str, int, int, str], ...]  # (label, min, max, piveau scoring IRI), best first
    by_name: dict[str, Indicator]

    def points(self, name: str) -> int:
        return self.by_name[name].points

    def band(self, total: int) -> str:
        for label, lo, hi, _ in self.bands:
            if lo <= total <= hi:
                return label
        raise ValueError(f"MQA total {total} is outside every rating band of mqa_indicators.csv")


@lru_cache(maxsize=1)
def method() -> Method:
    """The indicator table as shipped; the sums are checked so a bad edit of the CSV fails loudly."""
    indicators: list[Indicator] = []
    dim_max: dict[str, int] = {}
    total_max = 0
    bands: list[tuple[str, int, int, str]] = []
    with open(MQA_DATA / "mqa_indicators.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            kind = r["record_type"]
            if kind == "indicator":
                indicators.append(Indicator(r["dimension"].lower(), r["indicator"], r["computed_on"],
                                            int(r["points"]), r["piveau_metric"]))
            elif kind == "dimension_max":
                dim_max[r["dimension"].lower()] = int(r["points"])
            elif kind == "total_max":
                total_max = int(r["points"])
            elif kind == "rating_band":
                bands.append((r["indicator"], int(r["points_min"]), int(r["points_max"]), r["piveau_metric"]))
    for d in DIMENSIONS:
        got = sum(i.points for i in indicators if i.dimension == d)
        if got != dim_max.get(d):
            raise ValueError(f"mqa_indicators.csv: {d} indicators add up to {got}, dimension_max says "
                             f"{dim_max.get(d)}; fix the table")
    if sum(dim_max.values()) != total_max:
        raise ValueError(f"mqa_indicators.csv: dimensions add up to {sum(dim_max.values())}, total_max "
                         f"says {total_max}; fix the table")
    bands.sort(key=lambda b: -b[1])
    return Method(tuple(indicators), dim_max, total_max, tuple(bands), {i.name: i for i in indicators})


def _format_list(name: str, flag: str) -> frozenset[str]:
    """The file-type IRIs a data.europa.eu format list marks ``flag true`` (one triple per line)."""
    out = set()
    for line in (MQA_DATA / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("<") and flag in line and "true" in line:
            out.add(line[1:line.index(">")])
    if not out:
        raise ValueError(f"{MQA_DATA / name}: no format marked {flag}; the shipped list is damaged")
    return frozenset(out)


@dataclass(frozen=True)
class Vocabularies:
    machine_readable: frozenset[str]  # file-type IRIs
    non_proprietary: frozenset[str]
    file_types: frozenset[str]  # every EU file-type IRI
    access_rights: frozenset[str]
    licences: frozenset[str]  # folded (``_url_key``) EU licence IRIs + data.europa.eu known licences
    licence_aliases: dict[str, str]  # folded exactMatch / sameAs URL -> the licence concept IRI it names


@lru_cache(maxsize=1)
def vocabularies() -> Vocabularies:
    aliases = _edp_licence_aliases()
    licences = {_url_key(r["uri"]) for r in _rows("licence.csv")}
    licences |= {_url_key(v) for v in aliases.values()} | set(aliases)
    return Vocabularies(
        machine_readable=_format_list("edp-machine-readable-format.ttl", "isMachineReadable"),
        non_proprietary=_format_list("edp-non-proprietary-format.ttl", "isNonProprietary"),
        file_types=frozenset(r["uri"] for r in _rows("file-type.csv")),
        access_rights=frozenset(r["uri"] for r in _rows("access-right.csv")),
        licences=frozenset(licences), licence_aliases=aliases)


def _edp_licence_aliases() -> dict[str, str]:
    """data.europa.eu's known-licence list: every concept and the URLs it is matched with (exactMatch,
    sameAs; e.g. ``dcat-ap.de/def/licenses/cc-zero`` is EU ``licence/CC0``), folded -> concept IRI."""
    from rdflib import Graph
    from rdflib.namespace import OWL, SKOS

    g = Graph().parse(MQA_DATA / "edp-licences-skos.ttl", format="turtle")
    out: dict[str, str] = {}
    for s in set(g.subjects(SKOS.exactMatch, None)) | set(g.subjects(OWL.sameAs, None)) | set(
            g.subjects(None, SKOS.Concept)):
        out.setdefault(_url_key(str(s)), str(s))
        for o in (*g.objects(s, SKOS.exactMatch), *g.objects(s, OWL.sameAs)):
            out.setdefault(_url_key(str(o)), str(s))
    return out


# --------------------------------------------------------------------------- the score


@dataclass(frozen=True)
class MqaScore:
    total: int
    max_points: int
    band: str
    dimensions: dict[str, int]
    indicators: dict[str, int | None]  # indicator name (as in the CSV) -> points; None = not checked
    not_checked: list[str] = field(default_factory=list)
    checked_max: int = 0  # points reachable over the indicators that were checked

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "max_points": self.max_points, "band": self.band,
                "dimensions": dict(self.dimensions), "indicators": dict(self.indicators),
                "not_checked": list(self.not_checked), "checked_max": self.checked_max}

    def columns(self) -> dict[str, Any]:
        """The ``mqa_*`` columns of an inventory ``dataset_quality`` row."""
        return {"mqa_total": self.total, "mqa_band": self.band,
                **{f"mqa_{d}": self.dimensions[d] for d in DIMENSIONS}, "mqa_indicators": dict(self.indicators)}


def _ft_of(term: str) -> vocab.FileType | None:
    """The EU file type a dct:format / dcat:mediaType value names (IRI or literal), if any."""
    value = iri_value(term)
    if value is None:  # a literal: "CSV", "text/csv"
        end = term.rfind('"')
        value = term[1:end]
    return vocab.file_type(value)


@lru_cache(maxsize=4096)
def _format_facts(term: str) -> tuple[bool, bool, bool]:
    """(from the EU file-type table, machine-readable, non-proprietary) for one dct:format value."""
    voc = vocabularies()
    value = iri_value(term)
    in_vocab = value is not None and value in voc.file_types
    ft = _ft_of(term)
    uri = ft.uri if ft else None
    return in_vocab, uri in voc.machine_readable, uri in voc.non_proprietary


@lru_cache(maxsize=4096)
def _media_facts(term: str) -> tuple[bool, bool, bool]:
    """(a registered IANA media type IRI, machine-readable, non-proprietary) for one dcat:mediaType value."""
    voc = vocabularies()
    value = iri_value(term)
    in_vocab = False
    if value is not None:
        if value.startswith(_IANA_HTTP):
            value = IANA + value[len(_IANA_HTTP):]
        in_vocab = value.startswith(IANA) and vocab.media_type_uri(value) is not None
    ft = _ft_of(term)
    uri = ft.uri if ft else None
    return in_vocab, uri in voc.machine_readable, uri in voc.non_proprietary


def _interop(props: dict[str, list[str]], pts: dict[str, int]) -> tuple[int, int, int, int, int]:
    """The five distribution-level interoperability indicators for one distribution (``_INTEROP_DIST`` order)."""
    formats, media = props.get(_FORMAT, ()), props.get(_MEDIA_TYPE, ())
    facts = [_format_facts(t) for t in formats]
    # "both dct:format and dcat:mediaType aligned" (piveau formatMediaTypeVocabularyAlignment)
    aligned = bool(formats) and bool(media) and all(x[0] for x in facts)
    if media:
        m_facts = [_media_facts(t) for t in media]
        aligned = aligned and all(x[0] for x in m_facts)
        facts += m_facts
    return (pts["Format"] if formats else 0,
            pts["Media type"] if media else 0,
            pts["Format / Media type from vocabulary"] if aligned else 0,
            pts["Non-proprietary"] if any(x[2] for x in facts) else 0,
            pts["Machine readable"] if any(x[1] for x in facts) else 0)


def _url_indicator(urls: list[str], links: Mapping[str, bool | None] | None, points: int) -> int | None:
    """Points if a distribution's URL answered; 0 if none did and all were checked; None if undecided."""
    if not urls:
        return 0  # nothing to reach: decided without a check
    if not links:
        return None
    states = [links.get(u) for u in urls]
    if any(s is True for s in states):
        return points
    if any(s is None for s in states):
        return None  # an unchecked URL might still answer
    return 0


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, int], tuple[tuple[str, str, int], ...]]:
    """Indicator name -> points, and (name, dimension, points) in the CSV's order: looked up ~30 times a dataset."""
    m = method()
    return {i.name: i.points for i in m.indicators}, tuple((i.name, i.dimension, i.points) for i in m.indicators)


def score_dataset(nt: str, *, links: Mapping[str, bool | None] | None = None,
                  shacl_conforms: bool | None = None) -> MqaScore:
    """MQA points of the dataset in ``nt`` (its canonical N-Triples, as the inventory stores it).

    ``links`` maps access/download URLs to True (answered 2xx/3xx), False (failed) or None (not
    checked); ``shacl_conforms`` is None when SHACL did not run. Raises ValueError when ``nt`` holds
    no dcat:Dataset.
    """
    return score_index(index(nt, USED_PREDICATES), links=links, shacl_conforms=shacl_conforms)


def score_index(idx: Index, *, links: Mapping[str, bool | None] | None = None,
                shacl_conforms: bool | None = None, ds: str | None = None) -> MqaScore:
    """:func:`score_dataset` on an already parsed graph (the 5-star check shares the parse);
    ``ds`` is its dataset node when the caller has found it already."""
    pts, _ = _table()
    voc = vocabularies()
    ds = ds or dataset_node(idx)
    if ds is None:
        raise ValueError("no subject typed dcat:Dataset in the N-Triples; pass one dataset's graph")
    d = idx[ds]
    dists = [idx.get(o, _NO_PROPS) for o in d.get(_DISTRIBUTION, ()) if o.startswith("<")]
    ind: dict[str, int | None] = {}

    # findability (dataset)
    ind["Keyword usage"] = pts["Keyword usage"] if d.get(_KEYWORD) else 0
    ind["Categories"] = pts["Categories"] if d.get(_THEME) else 0
    ind["Geo search"] = pts["Geo search"] if d.get(_SPATIAL) else 0
    ind["Time based search"] = pts["Time based search"] if d.get(_TEMPORAL) else 0

    # accessibility (distributions: any distribution earns the points)
    access = [iri_value(t) or "" for dp in dists for t in dp.get(_ACCESS_URL, ()) if t.startswith("<")]
    download = [iri_value(t) or "" for dp in dists for t in dp.get(_DOWNLOAD_URL, ()) if t.startswith("<")]
    ind["AccessURL accessibility"] = _url_indicator(access, links, pts["AccessURL accessibility"])
    ind["DownloadURL"] = pts["DownloadURL"] if download else 0
    ind["DownloadURL accessibility"] = _url_indicator(download, links, pts["DownloadURL accessibility"])

    # interoperability: the best distribution's five indicators, plus DCAT-AP compliance (dataset)
    best, best_sum = (0, 0, 0, 0, 0), 0
    for dp in dists:
        got = _interop(dp, pts)
        if sum(got) > best_sum:
            best, best_sum = got, sum(got)
    ind.update(zip(_INTEROP_DIST, best))
    ind["DCAT-AP compliance"] = None if shacl_conforms is None else (pts["DCAT-AP compliance"] if shacl_conforms
                                                                    else 0)

    # reusability
    licences = [t for dp in dists for t in dp.get(_LICENSE, ())]
    ind["Licence information"] = pts["Licence information"] if licences else 0
    ind["Licence vocabulary"] = pts["Licence vocabulary"] if any(_licence_known(t) for t in licences) else 0
    rights = d.get(_ACCESS_RIGHTS, ())
    ind["Access restrictions"] = pts["Access restrictions"] if rights else 0
    ind["Access restrictions vocabulary"] = (pts["Access restrictions vocabulary"]
                                             if any(iri_value(t) in voc.access_rights for t in rights) else 0)
    ind["Contact point"] = pts["Contact point"] if d.get(_CONTACT) else 0
    ind["Publisher"] = pts["Publisher"] if d.get(_PUBLISHER) else 0

    # contextuality (distributions; issued/modified fall back to the dataset's own dates)
    ind["Rights"] = pts["Rights"] if any(dp.get(_RIGHTS) for dp in dists) else 0
    ind["File size"] = pts["File size"] if any(dp.get(_BYTE_SIZE) for dp in dists) else 0
    ind["Date of issue"] = pts["Date of issue"] if dists and (
        d.get(_ISSUED) or any(dp.get(_ISSUED) for dp in dists)) else 0
    ind["Modification date"] = pts["Modification date"] if dists and (
        d.get(_MODIFIED) or any(dp.get(_MODIFIED) for dp in dists)) else 0

    return _finish(method(), ind)


_NO_PROPS: dict[str, list[str]] = {}


@lru_cache(maxsize=4096)
def _licence_known(term: str) -> bool:
    """A licence IRI data.europa.eu knows (EU table or its known-licence list), compared folded."""
    v = iri_value(term)
    return v is not None and _url_key(v) in vocabularies().licences


def assess(nt: str, *, links: Mapping[str, bool | None] | None = None,
           shacl_conforms: bool | None = None) -> tuple[MqaScore, int]:
    """(MQA score, 5-star level) from one parse of ``nt``: what the quality stage stores per dataset."""
    from expectations.stars import ASSESS_PREDICATES, stars_of

    idx = index(nt, ASSESS_PREDICATES)
    ds = dataset_node(idx)
    return score_index(idx, links=links, shacl_conforms=shacl_conforms, ds=ds), stars_of(idx, ds)


def _finish(m: Method, ind: dict[str, int | None]) -> MqaScore:
    _, rows = _table()
    ordered = {name: ind[name] for name, _, _ in rows}  # the CSV's order, and every indicator present
    dims = dict.fromkeys(DIMENSIONS, 0)
    checked_max = 0
    not_checked = []
    for name, dim, points in rows:
        v = ordered[name]
        if v is None:
            not_checked.append(name)
        else:
            dims[dim] += v
            checked_max += points
    total = sum(dims.values())
    return MqaScore(total=total, max_points=m.total_max, band=m.band(total), dimensions=dims,
                    indicators=ordered, not_checked=not_checked, checked_max=checked_max)


def aggregate(scores: Iterable[MqaScore]) -> dict[str, Any]:
    """Count, mean total, mean per dimension and band counts (a source's or an institution's run)."""
    m = method()
    n = 0
    total = 0
    dims = {d: 0 for d in DIMENSIONS}
    bands = {label: 0 for label, *_ in m.bands}
    for s in scores:
        n += 1
        total += s.total
        for d in DIMENSIONS:
            dims[d] += s.dimensions.get(d, 0)
        bands[s.band] = bands.get(s.band, 0) + 1
    return {"count": n, "mean_total": round(total / n, 2) if n else None,
            "mean_dimensions": {d: (round(v / n, 2) if n else None) for d, v in dims.items()},
            "bands": bands, "max_points": m.total_max,
            "band_of_mean": m.band(round(total / n)) if n else None}


__all__ = ["DIMENSIONS", "MqaScore", "aggregate", "assess", "method", "score_dataset", "score_index", "vocabularies"]
