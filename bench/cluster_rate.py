"""Benchmark duplicate clustering at 100,000 datasets, and the loader with change recording on/off.

    .venv/bin/python bench/cluster_rate.py --n 100000 [--workers 2] [--keep DIR]
    .venv/bin/python bench/cluster_rate.py --loader-only --n 100000 --repeat 3

Builds three sources from the synthetic CKAN generator (citycat/synthetic.py), mapped by the real
CKAN mapping: ``council`` (the originals), ``mirror`` (a share re-published data.gov.uk-style: new
package id, ``harvest_url`` pointing at the original or ``guid`` = its id) and ``hub`` (a share
copied with another id, the same title and publisher, and for half of them the same download URLs), so every rung of
the evidence ladder has work. Then, in a fresh child process (so its peak RSS is the clustering's
own), reads the inventory and clusters it; precision/recall against the planted pairs are printed
too. The loader figures: the council source loaded with change recording on and off (each into a
fresh SQLite file), then a re-load with 1% changed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)
BASE = "https://data.example.org/citycat"
MIRROR_SHARE, HUB_SHARE = 0.15, 0.10


def _ctx(source: str):
    from transforms.base import Institution, SourceContext

    return SourceContext(source_id=source, source_title=source, source_url=f"https://{source}.example.org",
                         institution=Institution(name=source, kind="council"), base_uri=BASE)


def _variant(pkg: dict, source: str, i: int) -> dict:
    import copy
    import uuid

    p = copy.deepcopy(pkg)
    p["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}:{pkg['id']}"))
    p["name"] = f"{source}-{pkg['name']}"
    p["url"] = None
    for r in p["resources"]:
        r["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}:{r['id']}"))
    if source == "hub" and i % 2:  # the hub re-hosts half of the files: only title + publisher link those
        for r in p["resources"]:
            r["url"] = r["url"].replace("https://data.example.org/", "https://hub.example.org/files/")
    if source == "mirror":
        key, value = ("harvest_url", f"https://council.example.org/dataset/{pkg['id']}") if i % 2 else ("guid", pkg["id"])
        p["extras"] = p["extras"] + [{"key": key, "value": value}]
    return p


def _map_chunk(args: tuple[str, int, list[int], int]) -> list[str]:
    from citycat.normalise import normalise_line
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord
    from transforms import get_mapping

    source, n, indices, generation = args
    pkgs = SyntheticPackages(SyntheticSpec(count=n, generation=generation, modified_fraction=0.01))
    mapping, ctx = get_mapping("ckan"), _ctx(source)
    out = []
    for i in indices:
        pkg = pkgs.package(i)
        if source != "council":
            pkg = _variant(pkg, source, i)
        raw = RawRecord(source_id=source, native_id=pkg["id"], fetched_at="2026-11-01T03:00:00+00:00",
                        media_type="application/json", payload=pkg)
        kind, line, _, _ = normalise_line(i, raw.to_json(), mapping, ctx)
        if kind == "mapped":
            out.append(line)
    return out


def normalised(source: str, n: int, indices: list[int], workers: int, generation: int = 0) -> list[str]:
    chunks = [(source, n, indices[k:k + 2000], generation) for k in range(0, len(indices), 2000)]
    with ProcessPoolExecutor(workers) as pool:
        return [line for part in pool.map(_map_chunk, chunks) for line in part]


def plan(n: int) -> dict[str, list[int]]:
    """Which synthetic packages each source holds; n datasets in all."""
    n_council = int(n / (1 + MIRROR_SHARE + HUB_SHARE))
    mirror = [i for i in range(n_council) if (i * 7919) % 1000 < MIRROR_SHARE * 1000]
    hub = [i for i in range(n_council) if (i * 104729) % 1000 < HUB_SHARE * 1000]
    return {"council": list(range(n_council)), "mirror": mirror, "hub": hub}


def load_rate(url: str, lines: list[str], *, record_changes: bool, run: str, at: datetime) -> tuple[float, dict]:
    from inventory import Inventory
    from inventory.load import load_records

    inv = Inventory(url)
    inv.migrate()
    started = time.perf_counter()
    with inv._write() as conn:
        res = load_records(conn, source_id="council", run_id=run, records=(json.loads(x) for x in lines),
                           mode="full", complete_listing=True, loaded_at=at, record_changes=record_changes)
    rate = len(lines) / (time.perf_counter() - started)
    inv.close()
    return rate, res.changes_by_field


def _vm_hwm_kb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries that across exec from the forking parent,
    so a child of the (multi-GB) parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cluster_child(url: str) -> None:
    """Run in a fresh process: read + cluster + write, print figures as JSON."""
    from inventory import Inventory
    from inventory.clusters import list_clusters, recompute

    inv = Inventory(url)
    started = time.perf_counter()
    res = recompute(inv, computed_at=T0)
    total = time.perf_counter() - started
    members = {}
    for c in list_clusters(inv):
        members[c["cluster_id"]] = [(m["source_id"], m["native_id"]) for m in c["members"]]
    print(json.dumps({"seconds_total": round(total, 2), "seconds_cluster_only": res.seconds,
                      "peak_rss_mb": round(_vm_hwm_kb() / 1024, 1),
                      "result": res.as_dict(), "clusters": list(members.values())}))


def loader_only(n: int, repeat: int) -> None:
    """The loader with change recording on and off, alternating, on bench/load_inventory.py's records:
    a first load (all created), a 1%-changed re-load and an everything-changed re-load (every dataset diffed)."""
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from load_inventory import records

    from inventory import Inventory
    from inventory.load import load_records

    phases = [("first", 0), ("changed_1pct", 100), ("changed_all", 1)]
    rates: dict[tuple[str, bool], list[float]] = {}
    for _ in range(repeat):
        for on in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                inv = Inventory(f"sqlite:///{tmp}/inventory.sqlite")
                inv.migrate()
                for k, (name, every) in enumerate(phases):
                    started = time.perf_counter()
                    with inv._write() as conn:
                        load_records(conn, source_id="bench", run_id=f"r{k}", records=records(n, changed_every=every),
                                     mode="full", complete_listing=True, loaded_at=T0 + timedelta(days=k),
                                     record_changes=on)
                    rates.setdefault((name, on), []).append(n / (time.perf_counter() - started))
                inv.close()
    for name, _ in phases:
        on, off = statistics.median(rates[(name, True)]), statistics.median(rates[(name, False)])
        print(f"loader {name:13s} with change recording {on:>9,.0f}/s, without {off:>9,.0f}/s "
              f"({on / off:.0%}; medians of {repeat})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", default=None, help="keep the SQLite inventory in this directory")
    ap.add_argument("--cluster-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--loader-only", action="store_true", help="only the loader on/off comparison")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.loader_only:
        loader_only(args.n, args.repeat)
        return
    if args.cluster_child:
        cluster_child(args.cluster_child)
        return
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="citycat-cluster-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp}/inventory.sqlite"
    p = plan(args.n)
    started = time.perf_counter()
    lines = {s: normalised(s, len(p["council"]), idx, args.workers) for s, idx in p.items()}
    n_all = sum(map(len, lines.values()))
    print(f"mapped {n_all:,} datasets ({', '.join(f'{s} {len(v):,}' for s, v in lines.items())}) "
          f"in {time.perf_counter() - started:.1f} s")

    # loader: council with change recording off (scratch file), then on (the bench inventory)
    off, _ = load_rate(f"sqlite:///{tmp}/scratch.sqlite", lines["council"], record_changes=False, run="r0", at=T0)
    os.unlink(tmp / "scratch.sqlite")
    on, _ = load_rate(url, lines["council"], record_changes=True, run="r1", at=T0)
    print(f"load council first run: {on:,.0f} datasets/s with change recording, {off:,.0f} without "
          f"({on / off:.0%})")
    from inventory import Inventory

    inv = Inventory(url)
    for s in ("mirror", "hub"):
        inv.load(source_id=s, run_id=f"{s}-r1", records=(json.loads(x) for x in lines[s]), mode="full",
                 complete_listing=True, loaded_at=T0)
    inv.close()
    changed = normalised("council", len(p["council"]), p["council"], args.workers, generation=1)
    rate, by_field = load_rate(url, changed, record_changes=True, run="r2", at=T0 + timedelta(days=1))
    print(f"load council re-run, 1% changed: {rate:,.0f} datasets/s; changes by field: "
          + ", ".join(f"{n} {f}" for f, n in list(by_field.items())[:6]))

    child = subprocess.run([sys.executable, __file__, "--cluster-child", url], capture_output=True, text=True,
                           check=True)
    fig = json.loads(child.stdout)
    import uuid

    from citycat.synthetic import SyntheticPackages, SyntheticSpec

    pk = SyntheticPackages(SyntheticSpec(count=len(p["council"])))
    origin: dict[tuple[str, str], int] = {}  # (source, native id) -> the synthetic package it came from
    for s, idx in p.items():
        for i in idx:
            pid = pk.package_id(i)
            origin[(s, pid if s == "council" else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{s}:{pid}")))] = i
    truth = len(p["mirror"]) + len(p["hub"]) + len(set(p["mirror"]) & set(p["hub"]))
    predicted = correct = 0
    for members in fig["clusters"]:
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                predicted += 1
                correct += origin.get(tuple(members[a])) == origin.get(tuple(members[b])) is not None
    r = fig["result"]
    print(f"cluster {r['datasets']:,} datasets: {fig['seconds_total']:.1f} s total (read + cluster + write), "
          f"{fig['seconds_cluster_only']:.1f} s clustering alone; peak RSS {fig['peak_rss_mb']:.0f} MB")
    print(f"  {r['clusters']:,} clusters, {r['clustered']:,} datasets in them; by evidence {r['by_evidence']}; "
          f"title pairs compared {r['title_pairs_compared']:,}; blocks skipped {r['blocks_skipped']}; "
          f"refused {r['refused']}")
    print(f"  planted duplicate pairs {truth:,}, predicted pairs {predicted:,}, correct {correct:,}: "
          f"precision {correct / max(predicted, 1):.4f}, recall {correct / max(truth, 1):.4f}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
