"""The link check stage: check a run's access/download URLs politely and remember the answers.

Runs before validate, so the MQA accessibility indicators of that run can use the answers
(``inventory.quality.link_status``). A URL is shared by every dataset that names it and is checked
at most once per ``max_age_days``; a run checks at most ``max_urls`` of them (never-checked first,
then the stalest), so a first run over a 100,000-dataset portal spreads over several nights
instead of hammering it. Off unless ``quality.link_check.enabled`` is set for the source.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from citycat.config import SourceConfig
from citycat.pipeline import iter_normalised


def run_urls(normalised: str | Path) -> list[str]:
    """Every distinct access/download URL of the run's (not deleted) records, in file order."""
    seen: dict[str, None] = {}
    for rec in iter_normalised(normalised):
        if rec.get("deleted"):
            continue
        row = rec.get("row") or {}
        for key in ("access_urls", "download_urls"):
            for u in row.get(key) or ():
                if isinstance(u, str) and u:
                    seen.setdefault(u)
    return list(seen)


def check_links(source: SourceConfig, run_id: str, normalised: str | Path, *, inventory, now: datetime,
                checker: Any = None) -> dict[str, Any]:
    """Check the URLs of one run that are due; store the results; return counts.

    ``checker`` (a :class:`expectations.linkcheck.LinkChecker`) may be passed to share per-host
    gaps between sources; by default one is built from the source's options.
    """
    from expectations.linkcheck import LinkCheckConfig, LinkChecker, due
    from inventory.quality import link_rows, save_link_checks

    opts = source.quality.link_check
    started = time.monotonic()
    out: dict[str, Any] = {"source_id": source.id, "run_id": run_id, "enabled": opts.enabled, "urls": 0,
                           "fresh": 0, "due": 0, "checked": 0, "ok": 0, "failed": 0, "not_checkable": 0,
                           "deferred": 0}
    if not opts.enabled:
        return out
    urls = run_urls(normalised)
    last = {r["url"]: r["checked_at"] for r in link_rows(inventory, urls)}
    todo_all = due(urls, last, now=now, max_age_days=opts.max_age_days)
    todo = todo_all[:opts.max_urls]
    if checker is None:
        checker = LinkChecker(LinkCheckConfig(timeout=opts.timeout, per_host_interval=opts.per_host_interval,
                                              workers=opts.workers, allow_private=opts.allow_private_addresses))
    results = checker.check(todo, now=now) if todo else []
    save_link_checks(inventory, results)
    out.update(urls=len(urls), fresh=len(urls) - len(todo_all), due=len(todo_all), checked=len(results),
               ok=sum(r.ok is True for r in results), failed=sum(r.ok is False for r in results),
               not_checkable=sum(r.ok is None for r in results), deferred=len(todo_all) - len(todo),
               seconds=round(time.monotonic() - started, 3))
    return out


__all__ = ["check_links", "run_urls"]
