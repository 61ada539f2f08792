"""``citycat serve``: run the DCAT feed service (publish/server.py) with uvicorn.

The inventory comes from ``$CITYCAT_DATABASE_URL`` (else ``<data dir>/inventory.sqlite``), the
data directory from ``$CITYCAT_DATA_DIR`` (for ``/report``), the catalogue and sources from
``--sources`` / ``$CITYCAT_SOURCES``. The default host is 127.0.0.1; a container passes
``--host 0.0.0.0`` to be reachable through its published port.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

log = logging.getLogger("citycat.serve")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the DCAT feed, dataset pages, exports and SPARQL over HTTP")
    p.add_argument("--sources", default=os.environ.get("CITYCAT_SOURCES", "sources.yaml"),
                   help="sources file (default: $CITYCAT_SOURCES or ./sources.yaml)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-page-size", type=int, default=1000, help="largest page_size a client may ask for")
    p.add_argument("--cache-mb", type=int, default=64, help="memory for rendered pages (MiB, default 64)")
    p.add_argument("--sparql-timeout", type=float, default=10.0, help="seconds a SPARQL query may run (default 10)")
    p.add_argument("--sparql-limit", type=int, default=10_000, help="most results a SPARQL query returns")
    p.add_argument("--sparql-max-datasets", type=int, default=0,
                   help="refuse SPARQL when the inventory holds more active datasets (its in-memory store needs "
                        "~30 kB each); 0 = no limit")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(handler=run)


def build_app(args: argparse.Namespace):
    """The app for ``args`` (also used by tests and the benchmark through the same path)."""
    from citycat import pipeline
    from citycat.config import ConfigError, load_sources
    from inventory import Inventory
    from publish.server import ServerSettings, create_app

    try:
        config = load_sources(args.sources)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(f"fix {args.sources} first (citycat sources check --sources {args.sources})") from None
    data_dir = pipeline.data_dir_from_env()
    inventory = Inventory.from_env(data_dir)
    if inventory.schema_revision() is None:
        # A fresh container may start before the first harvest: give it the (empty) schema so the
        # service answers with an empty catalogue instead of failing. Existing data is never touched.
        log.warning("serve: the inventory has no schema yet; creating it (empty)")
        inventory.migrate()
    c = config.catalog
    catalog, sources = pipeline.feed_catalog(config)
    settings = ServerSettings(page_size=c.page_size, max_page_size=max(args.max_page_size, c.page_size),
                              page_cache_bytes=args.cache_mb << 20, sparql_timeout=args.sparql_timeout,
                              sparql_limit=args.sparql_limit, sparql_max_datasets=args.sparql_max_datasets,
                              data_dir=data_dir)
    return create_app(inventory, catalog=catalog, sources=sources, settings=settings)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    app = build_app(args)
    log.info("serve: %s on http://%s:%d (catalogue %s/catalog)", app.state.inventory, args.host, args.port,
             app.state.catalog.base_uri)
    uvicorn.run(app, host=args.host, port=args.port, access_log=args.access_log, log_level="info",
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    return 0
