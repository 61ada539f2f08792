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
import json
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


def _integer(v: int) -> str:
    return f'"{int(v)}"^^<{XSD.integer}>'


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"measured_at must be timezone-aware, got {at!r}")
    return f'"{at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}"^^<{XSD.dateTime}>'


def measurements(quality: Mapping[str, Any], *, base_uri: str) -> list[tuple[str, str, str]]:
    """(node suffix, metric IRI, N-Triples value) for each measured quality field."""
    out = []
    if quality.get("mqa_total") is not None:
        out.append(("mqa-score", str(PV.score), _integer(quality["mqa_total"])))
    for d in DIMENSIONS:
        if quality.get(f"mqa_{d}") is not None:
            out.append((f"mqa-{d}", metric_uri(base_uri, f"mqa-{d}"), _integer(quality[f"mqa_{d}"])))
    if quality.get("stars") is not None:
        out.append(("five-star", metric_uri(base_uri, "five-star"), _integer(quality["stars"])))
    if quality.get("shacl_conforms") is not None:
        out.append(("dcat-ap-compliance", str(PV.dcatApCompliance),
                    f'"{"true" if quality["shacl_conforms"] else "false"}"^^<{XSD.boolean}>'))
    return out


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
        lines += [f"{dsn} {MARKER} {node} .",
                  f"{node} <{RDF.type}> <{DQV.QualityMeasurement}> .",
                  f"{node} <{DQV.computedOn}> {dsn} .",
                  f"{node} <{DQV.isMeasurementOf}> <{metric}> .",
                  f"{node} <{DQV.value}> {value} .",
                  f"{node} <{PROV.generatedAtTime}> {at} ."]
    return "\n".join(lines) + "\n"


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
    return json.dumps([str(quality.get(f)) for f in RESULTS] + [str(generated_at(quality))])


def with_quality(ds: FeedDataset, quality: Mapping[str, Any] | None, *, base_uri: str) -> FeedDataset:
    """``ds`` with its measurement appended and a change key that covers it (unchanged when none)."""
    if not quality:
        return ds
    extra = quality_ntriples(ds, quality, base_uri=base_uri)
    if not extra:
        return ds
    nt = ds.nt if ds.nt.endswith("\n") else ds.nt + "\n"
    base_key = ds.content_hash or hashlib.sha256(ds.nt.encode("utf-8", "surrogatepass")).hexdigest()
    key = hashlib.sha256(f"{base_key}\x00{quality_digest(quality)}".encode()).hexdigest()
    return replace(ds, nt=nt + extra, content_hash=key)


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


__all__ = ["DQV", "PV", "join_quality", "measurements", "metric_triples", "metric_uri", "quality_ntriples",
           "with_quality"]
