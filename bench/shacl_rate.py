"""SHACL throughput: datasets/s validating small dataset graphs one by one vs batched.

Run: PYTHONPATH=. python bench/shacl_rate.py [--sizes 100 500] [--batch-size 50] [--repeats 3]
Prints the median of the repeats. The graphs are copies of tests/data/shacl/known_good_dataset.ttl
under different dataset URIs (~30 triples each, the size of a mapped CKAN dataset), every tenth one
without its title so the runs also build reports.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

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
