"""A static-file HTTP server on 127.0.0.1 for DCAT feeds, for tests and the offline example.

DCAT feeds are documents, not APIs: a catalogue page in some RDF syntax, a media type that may
be right, generic or missing, and Hydra links to the next page. This serves a set of documents
(a directory, e.g. a feed written by :func:`publish.write_feed`, or bodies added one by one) with
chosen media types, logs each request (path, query, Accept) and injects the faults real feeds
produce: server errors, truncated bodies, HTML maintenance pages.

    with LocalDcat() as site:
        write_feed(..., catalog=CatalogInfo(base_uri=site.url, ...))
        site.serve_directory(feed_dir)
        DcatHarvester("x", f"{site.url}/catalog.ttl", ...)

    python -m citycat.localdcat DIRECTORY --port 8801
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from citycat.localserver import Fault, LocalServer, Reply, Request

# File extension -> media type the server announces (what a correctly configured web server sends).
MEDIA_TYPES = {".ttl": "text/turtle; charset=utf-8", ".nt": "application/n-triples",
               ".rdf": "application/rdf+xml", ".xml": "application/rdf+xml", ".jsonld": "application/ld+json",
               ".json": "application/json", ".html": "text/html; charset=utf-8"}


class LocalDcat(LocalServer):
    """Documents by URL path, faults, and a log of the requests seen.

    A fault's scope is a URL path (``inject(kind, path=...)``); ``truncate`` takes ``keep`` (bytes sent).
    """

    thread_name = "localdcat"
    log_limit = 10_000

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.documents: dict[str, tuple[bytes, str | None]] = {}
        super().__init__(host=host, port=port)

    def add(self, path: str, body: bytes | str, media_type: str | None) -> str:
        """Serve ``body`` at ``path`` with ``media_type`` (None = no Content-Type header); returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.documents["/" + path.lstrip("/")] = (data, media_type)
        return f"{self.url}/{path.lstrip('/')}"

    def serve_directory(self, directory: Path | str, *, prefix: str = "",
                        media_types: dict[str, str | None] | None = None) -> int:
        """Serve every file under ``directory`` at ``<prefix>/<relative path>``; returns the file count."""
        types = {**MEDIA_TYPES, **(media_types or {})}
        root = Path(directory)
        count = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            self.add(f"{prefix.strip('/')}/{rel}" if prefix else rel, path.read_bytes(),
                     types.get(path.suffix, "application/octet-stream"))
            count += 1
        return count

    def inject(self, kind: str, path: str | None = None, times: int = 1, **params: Any) -> None:
        super().inject(kind, times, "/" + path.lstrip("/") if path else None, **params)

    def log_entry(self, request: Request) -> dict[str, Any]:
        return {"path": request.path, "query": request.query, "accept": request.headers.get("Accept")}

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        doc = self.documents.get(request.path)
        if doc is None:
            return Reply(404, b"not found", "text/plain")
        return Reply(200, *doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a directory of DCAT documents on 127.0.0.1.")
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=8801)
    args = parser.parse_args(argv)
    site = LocalDcat(port=args.port)
    count = site.serve_directory(args.directory)
    print(f"serving {count} documents from {args.directory} at {site.url}")
    site.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
