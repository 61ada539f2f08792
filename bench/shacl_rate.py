"""SHACL throughput: datasets/s validating small dataset graphs one by one, batched, and via skeletons.

Run: PYTHONPATH=. python bench/shacl_rate.py [--sizes 100 500] [--batch-size 50] [--repeats 3]
                                             [--synthetic 10000 [100000]] [--direct-sample 500]
Prints the median of the repeats. The graphs are copies of tests/data/shacl/known_good_dataset.ttl
under different dataset URIs (~30 triples each, the size of a mapped CKAN dataset), every tenth one
without its title so the runs also build reports.

``--synthetic N``: N synthetic CKAN packages (citycat.synthetic, mapped by transforms.ckan, as the
pipeline benchmark harvests them) through the quality pass's skeleton path, in CPU seconds: build
the skeletons, validate the distinct ones, fill each dataset's result; and the direct rate measured
on the first ``--direct-sample`` graphs (batched by --batch-size) for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS

from expectations.shacl import validate_graph, validate_many

TEMPLATE = (Path(__file__).resolve().parent.parent / "tests" / "data" / "shacl" / "known_good_dataset.ttl")
SLUG = "household-waste-collections"


def make_graphs(n: int) -> list[tuple[str, Graph]]:
    text = TEMPLATE.read_text(encoding="utf-8")
    out = []
    for i in range(n):
        slug = f"bench-{i}"
        g = Graph().parse(data=text.replace(SLUG, slug), format="turtle")
        if i % 10 == 0:
            g.remove((URIRef(f"https://data.example.org/citycat/dataset/leeds-ckan/{slug}"), DCTERMS.title, None))
        out.append((slug, g))
    return out


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    violating = fn()
    return time.perf_counter() - start, violating


def synthetic_nts(n: int) -> list[str]:
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord
    from transforms import get_mapping
    from transforms.base import Institution, SourceContext

    ctx = SourceContext("bench", "Bench portal", "https://data.example.org", Institution("Bench Council", "council"),
                        "https://data.example.org/citycat")
    pkgs, mapping, out = SyntheticPackages(SyntheticSpec(count=n)), get_mapping("ckan"), []
    for i in range(n):
        p = pkgs.package(i)
        if p.get("state") == "deleted":
            continue
        try:
            out.append(mapping(RawRecord("bench", p["id"], "2026-11-20T02:00:00+00:00", "application/json", p),
                               ctx).ntriples())
        except Exception:  # noqa: BLE001 - a mapping error is not a SHACL cost
            continue
    return out


def via_skeletons(n: int, batch_size: int, direct_sample: int) -> None:
    from expectations import shacl, shacl_skeleton as sk
    from transforms.rdf import graph_from_ntriples

    nts = synthetic_nts(n)
    sup = sk.support()
    cpu = time.process_time
    t0 = cpu()
    skeletons = [sk.skeleton(sk.with_bridge(sk.triples_of_nt(nt)), sup) for nt in nts]
    t1 = cpu()
    distinct = {s.key: s for s in skeletons}
    outcomes = dict(sk.validate_skeletons(distinct.values(), batch_size=batch_size))
    t2 = cpu()
    results = [sk.result_for(outcomes[s.key], s) for s in skeletons]
    t3 = cpu()
    total = t3 - t0
    print(f"{len(nts):>8} graphs -> {len(distinct)} distinct skeletons; CPU s: skeletons {t1 - t0:.2f} "
          f"({(t1 - t0) / len(nts) * 1e6:.0f} us/graph), pyshacl {t2 - t1:.2f}, fill {t3 - t2:.2f} "
          f"({(t3 - t2) / len(nts) * 1e6:.0f} us/graph); total {total:.2f} = {len(nts) / total:,.0f} graphs/s; "
          f"conforming {sum(r.conforms for r in results)}")
    sample = [(str(i), graph_from_ntriples(nt)) for i, nt in enumerate(nts[:direct_sample])]
    t4 = cpu()
    direct = dict(shacl.validate_many(sample, batch_size=batch_size))
    t5 = cpu()
    print(f"{len(sample):>8} graphs directly (batch {batch_size}): CPU {t5 - t4:.2f} s = "
          f"{len(sample) / (t5 - t4):.1f} graphs/s; same conforms as via skeletons: "
          f"{all(direct[str(i)].conforms == results[i].conforms for i in range(len(sample)))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100, 500])
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--synthetic", type=int, nargs="*", default=[])
    ap.add_argument("--direct-sample", type=int, default=500)
    args = ap.parse_args()
    for n in args.synthetic:
        via_skeletons(n, args.batch_size, args.direct_sample)

    validate_graph(make_graphs(1)[0][1])  # parse the shapes and vocabularies outside the timings
    print(f"{'datasets':>8} {'mode':>12} {'median s':>9} {'datasets/s':>11} {'violating':>9}")
    for n in args.sizes:
        graphs = make_graphs(n)
        modes = {
            "single": lambda: sum(not validate_graph(g).conforms for _, g in graphs),
            f"batch {args.batch_size}": lambda: sum(
                not r.conforms for _, r in validate_many(graphs, batch_size=args.batch_size)),
        }
        for mode, fn in modes.items():
            runs = [timed(fn) for _ in range(args.repeats)]
            med = statistics.median(t for t, _ in runs)
            print(f"{n:>8} {mode:>12} {med:>9.2f} {n / med:>11.1f} {runs[0][1]:>9}")


if __name__ == "__main__":
    main()
