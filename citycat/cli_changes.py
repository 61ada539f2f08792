"""``citycat changes SOURCE --since DATE`` and ``citycat duplicates [--source S]`` (docs/duplicates.md).

Both read the inventory named by ``CITYCAT_DATABASE_URL`` (else the SQLite file under
``CITYCAT_DATA_DIR``) and print plain text, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any


def _since(value: str) -> datetime:
    from citycat.pipeline import parse_time

    try:
        dt = parse_time(value.strip())
        if dt is None:
            raise ValueError("empty")
        return dt
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since {value!r} is not an ISO 8601 date or date-time "
                                         "(e.g. 2026-11-01 or 2026-11-01T03:00:00Z)") from None


def _inventory():
    from citycat import pipeline

    return pipeline.open_inventory(pipeline.data_dir_from_env())


def _value(v: Any) -> str:
    if v is None:
        return "(none)"
    text = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def format_change(item: dict[str, Any]) -> list[str]:
    head = f"{item['changed_at']}  {item['change']:<9} v{item['version']}  {item['native_id']}"
    lines = [head]
    for f in item.get("fields") or []:
        where = f" [#{f['node'].rsplit('#', 1)[-1]}]" if f.get("node") and f["field"] != "distribution" else ""
        if f["op"] == "changed":
            lines.append(f"    {f['field']}{where} changed from {_value(f['old'])} to {_value(f['new'])}")
        elif f["op"] == "added":
            lines.append(f"    {f['field']}{where} added: {_value(f['new'])}")
        else:
            lines.append(f"    {f['field']}{where} removed: {_value(f['old'])}")
    return lines


def _changes(args: argparse.Namespace) -> int:
    from publish.server_changes import query_changes

    inv = _inventory()
    try:
        with inv.engine.connect() as conn:
            total, items = query_changes(conn, since=args.since, sources=[args.source], offset=0, limit=args.limit)
    finally:
        inv.close()
    if args.json:
        print(json.dumps({"total": total, "items": items}, ensure_ascii=False, indent=1))
        return 0
    if not items:
        print(f"{args.source}: no changes since {args.since.isoformat()}")
        return 0
    for item in items:
        print("\n".join(format_change(item)))
    if total > len(items):
        print(f"... {total - len(items)} more (raise --limit)")
    return 0


def _duplicates(args: argparse.Namespace) -> int:
    from inventory.clusters import list_clusters

    inv = _inventory()
    try:
        clusters = list_clusters(inv, source_id=args.source)
    finally:
        inv.close()
    if args.json:
        print(json.dumps(clusters, ensure_ascii=False, indent=1, default=str))
        return 0
    if not clusters:
        print("no duplicate clusters" + (f" with a dataset of {args.source}" if args.source else ""))
        return 0
    for c in clusters:
        title = next((m["title"] for m in c["members"] if m["primary"]), None)
        print(f"cluster {c['cluster_id']}: {title!r} ({len(c['members'])} records)")
        for m in c["members"]:
            role = "primary" if m["primary"] else f"mirror  {m['evidence']} {m['score']:.2f}"
            print(f"    {role:<32} {m['source_id']}/{m['native_id']}  {m['uri']}")
    print(f"{len(clusters)} clusters")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("changes", help="field-level changes of a source's datasets since a date")
    p.add_argument("source", help="a source id from sources.yaml")
    p.add_argument("--since", type=_since, required=True, help="ISO 8601 date or date-time (UTC when no zone)")
    p.add_argument("--limit", type=int, default=1000, help="print at most this many changes (default 1000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=_changes)
    d = sub.add_parser("duplicates", help="cross-source duplicate clusters with their evidence")
    d.add_argument("--source", default=None, help="only clusters with a dataset of this source")
    d.add_argument("--json", action="store_true", help="print JSON instead of text")
    d.set_defaults(handler=_duplicates)


if __name__ == "__main__":  # pragma: no cover - use `citycat changes` / `citycat duplicates`
    sys.exit("run `citycat changes` or `citycat duplicates`")
