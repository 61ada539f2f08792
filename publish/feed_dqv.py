"""Each dataset's latest quality measurement in the feed, as W3C DQV.

Consumers of the feed (data.europa.eu, BI tools, the audit) read quality the way data.europa.eu
publishes its own MQA results: ``dqv:hasQualityMeasurement`` from the dataset to one
``dqv:QualityMeasurement`` per metric, with ``dqv:isMeasurementOf``, ``dqv:value`` and
``prov:generatedAtTime`` (since when the dataset has had these results). Terms are reused where
data.europa.eu's vocabulary has them: the total is piveau's ``pv:score``, DCAT-AP compliance is
``pv:dcatApCompliance``, and the dimensions are piveau's ``pv:findability`` ... ``pv:contextuality``. piveau has no metric for a
*dimension's* points or for the 5-star level, so those five + one metrics are ours, published under
``<base>/quality/metric/`` and defined (``dqv:inDimension`` the piveau dimension) in the catalogue
block of every page. docs/mqa.md lists them.

The measurements are appended to the dataset's N-Triples before the feed writer sees it, and the
dataset's change key includes them, so a changed score republishes the dataset even when its
metadata did not change (the writer's incremental mode skips only unchanged keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pyoxigraph as ox
from rdflib.namespace import PROV, RDF, RDFS, SKOS, XSD, Namespace

from publish.feed_model import FeedDataset
from publish.feed_rdf import segment

# Not shipped by rdflib.namespace (7.6): spelled once, here.
DQV = Namespace("http://www.w3.org/ns/dqv#")
PV = Namespace("https://piveau.eu/ns/voc#")  # data.europa.eu / piveau MQA vocabulary (mqa_data/edp-dqv-vocabulary.ttl)

DIMENSIONS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")
# our metrics: key -> (label, definition, piveau dimension)
OWN_METRICS: dict[str, tuple[str, str, str]] = {
    **{f"mqa-{d}": (f"MQA {d} points", f"Points of the data.europa.eu MQA {d} dimension earned by the dataset "
                    "(metric of the citycat inventory; see docs/mqa.md).", d) for d in DIMENSIONS},
    "five-star": ("5-star open data level", "Tim Berners-Lee's 5-star open data level (0-5) judged from the "
                  "dataset's metadata (see docs/mqa.md).", "interoperability"),
}
# the results this module publishes (a dataset_quality row has them all)
RESULTS = ("mqa_total", *(f"mqa_{d}" for d in DIMENSIONS), "stars", "shacl_conforms")
MARKER = f"<{DQV.hasQualityMeasurement}>"  # a graph holding measurements contains this


def metric_uri(base_uri: str, key: str) -> str:
    return f"{base_uri.rstrip('/')}/quality/metric/{key}"


_XSD_INTEGER, _XSD_BOOLEAN, _XSD_DATETIME = f"<{XSD.integer}>", f"<{XSD.boolean}>", f"<{XSD.dateTime}>"
_PV_SCORE, _PV_COMPLIANCE = str(PV.score), str(PV.dcatApCompliance)


def _integer(v: int) -> str:
    return f'"{int(v)}"^^{_XSD_INTEGER}'


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"measured_at must be timezone-aware, got {at!r}")
    return f'"{at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}"^^{_XSD_DATETIME}'


def measurements(quality: Mapping[str, Any], *, base_uri: str) -> list[tuple[str, str, str]]:
    """(node suffix, metric IRI, N-Triples value) for each measured quality field."""
    out = []
    if quality.get("mqa_total") is not None:
        out.append(("mqa-score", _PV_SCORE, _integer(quality["mqa_total"])))
    for d in DIMENSIONS:
        if quality.get(f"mqa_{d}") is not None:
            out.append((f"mqa-{d}", metric_uri(base_uri, f"mqa-{d}"), _integer(quality[f"mqa_{d}"])))
    if quality.get("stars") is not None:
        out.append(("five-star", metric_uri(base_uri, "five-star"), _integer(quality["stars"])))
    if quality.get("shacl_conforms") is not None:
        out.append(("dcat-ap-compliance", _PV_COMPLIANCE,
                    f'"{"true" if quality["shacl_conforms"] else "false"}"^^{_XSD_BOOLEAN}'))
    return out


# the predicates and classes as N-Triples terms, spelled once: rdflib's Namespace attribute
# lookups cost ~6 us each, ~40 per dataset, which was most of a 100,000-dataset publish's DQV cost
_T_MARKER, _T_TYPE, _T_QM = MARKER, f"<{RDF.type}>", f"<{DQV.QualityMeasurement}>"
_T_ON, _T_OF, _T_VALUE, _T_AT = (f"<{DQV.computedOn}>", f"<{DQV.isMeasurementOf}>", f"<{DQV.value}>",
                                 f"<{PROV.generatedAtTime}>")


def quality_ntriples(ds: FeedDataset, quality: Mapping[str, Any], *, base_uri: str) -> str:
    """The DQV triples of one dataset's measurement (N-Triples; empty when nothing was measured).

    Measurement nodes are minted under the inventory's own dataset address
    (``<base>/dataset/<source>/<id>#quality-<metric>``), never under a publisher's IRI.
    """
    found = measurements(quality, base_uri=base_uri)
    when = generated_at(quality)
    if not found or when is None:
        return ""
    at = _time(when)
    own = f"{base_uri.rstrip('/')}/dataset/{segment(ds.source_id)}/{segment(ds.native_id)}"
    dsn = f"<{ds.uri}>"
    lines = []
    for suffix, metric, value in found:
        node = f"<{own}#quality-{suffix}>"
        lines += [f"{dsn} {_T_MARKER} {node} .",
                  f"{node} {_T_TYPE} {_T_QM} .",
                  f"{node} {_T_ON} {dsn} .",
                  f"{node} {_T_OF} <{metric}> .",
                  f"{node} {_T_VALUE} {value} .",
                  f"{node} {_T_AT} {at} ."]
    return "\n".join(lines) + "\n"


def has_measurement(quality: Mapping[str, Any] | None) -> bool:
    """Whether :func:`quality_ntriples` would write anything (without writing it)."""
    return bool(quality) and generated_at(quality) is not None and any(quality.get(f) is not None for f in RESULTS)


def generated_at(quality: Mapping[str, Any]) -> datetime | None:
    """The published ``prov:generatedAtTime``: since when the dataset has had these results
    (``first_measured_at`` from ``inventory.quality.latest_dataset_quality(first_measured=True)``),
    else the measurement's own time. A nightly re-measurement with the same results then changes
    nothing in the feed, and the incremental writer keeps linking the dataset's files."""
    return quality.get("first_measured_at") or quality.get("measured_at")


def quality_digest(quality: Mapping[str, Any] | None) -> str:
    """What of the quality the published document shows; part of the dataset's change key."""
    if not quality:
        return ""
    return "\x1f".join([*(str(quality.get(f)) for f in RESULTS), str(generated_at(quality))])


def quality_key(base_key: str, quality: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{base_key}\x00{quality_digest(quality)}".encode()).hexdigest()


def with_quality(ds: FeedDataset, quality: Mapping[str, Any] | None, *, base_uri: str) -> FeedDataset:
    """``ds`` with its measurement appended and a change key that covers it (unchanged when none).

    A lazy dataset (``FeedDataset.lazy``) keeps the measurement as data: its triples are written
    only if the writer has to prepare the dataset (``publish.feed_lazy.resolve``), with the same
    change key and bytes as here."""
    if not quality:
        return ds
    if ds.lazy:
        if not has_measurement(quality):
            return ds
        return replace(ds, quality=quality, content_hash=quality_key(ds.content_hash, quality))
    extra = quality_ntriples(ds, quality, base_uri=base_uri)
    if not extra:
        return ds
    nt = ds.nt if ds.nt.endswith("\n") else ds.nt + "\n"
    base_key = ds.content_hash or hashlib.sha256(ds.nt.encode("utf-8", "surrogatepass")).hexdigest()
    return replace(ds, nt=nt + extra, content_hash=quality_key(base_key, quality))


def join_quality(datasets: Iterable[FeedDataset], qualities: Iterable[Mapping[str, Any]], *,
                 base_uri: str) -> Iterator[FeedDataset]:
    """Merge two streams sorted by (source_id, native_id) in code-point order: datasets x latest quality."""
    q_iter = iter(qualities)
    q = next(q_iter, None)
    for ds in datasets:
        key = (ds.source_id, ds.native_id)
        while q is not None and (q["source_id"], q["native_id"]) < key:
            q = next(q_iter, None)
        if q is not None and (q["source_id"], q["native_id"]) == key:
            yield with_quality(ds, q, base_uri=base_uri)
        else:
            yield ds


def metric_triples(base_uri: str) -> list[ox.Triple]:
    """Definitions of our metrics (``dqv:Metric``, ``dqv:inDimension`` a piveau dimension)."""
    def n(x: object) -> ox.NamedNode:
        return ox.NamedNode(str(x))

    out: list[ox.Triple] = []
    for key, (label, definition, dim) in OWN_METRICS.items():
        m = n(metric_uri(base_uri, key))
        out += [ox.Triple(m, n(RDF.type), n(DQV.Metric)),
                ox.Triple(m, n(SKOS.prefLabel), ox.Literal(label, language="en")),
                ox.Triple(m, n(SKOS.definition), ox.Literal(definition, language="en")),
                ox.Triple(m, n(DQV.expectedDataType), n(XSD.integer)),
                ox.Triple(m, n(DQV.inDimension), n(PV[dim]))]
        if key == "five-star":
            out.append(ox.Triple(m, n(RDFS.seeAlso), n(PV.OpenData5Star)))
    return out


__all__ = ["DQV", "PV", "has_measurement", "join_quality", "measurements", "metric_triples", "metric_uri", "quality_ntriples",
           "with_quality"]
