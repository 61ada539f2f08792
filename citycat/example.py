"""The offline example: real local servers serving recorded responses, harvested end to end."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit


def run_example(path: Path, *, runner: Callable[..., int]) -> int:
    """Serve the recorded responses beside ``path`` on 127.0.0.1 and run every source in it.

    One server per kind (CKAN API, DCAT document, OAI-PMH repository); each source's URL keeps
    its path and gets that server's host. The example writes under ``./data/example`` (unless
    ``CITYCAT_DATA_DIR`` is set) so recorded datasets never mix into the real inventory.
    """
    from citycat.config import load_sources
    from citycat.localdcat import LocalDcat
    from citycat.localoai import LocalOai, items_from_response
    from citycat.localportal import DirectoryStore, LocalPortal

    os.environ.setdefault("CITYCAT_DATA_DIR", str(Path("data") / "example"))
    sources = load_sources(path)
    here = Path(path).parent
    with ExitStack() as stack:
        portal = stack.enter_context(LocalPortal(DirectoryStore.from_directory(here / "ckan")))
        dcat = stack.enter_context(LocalDcat())
        dcat.serve_directory(here / "dcat")
        oai = stack.enter_context(LocalOai(items_from_response(here / "oai_pmh" / "zenodo_listrecords_oai_dc.xml",
                                                               "oai_dc")))
        servers = {"ckan": portal.url, "dcat": dcat.url, "oai-pmh": oai.url}
        local = []
        for s in sources.sources:
            if s.kind not in servers:
                raise SystemExit(f"examples: no local server for kind {s.kind!r} (source {s.id})")
            host = urlsplit(servers[s.kind])
            local.append(s.model_copy(update={"url": urlunsplit(urlsplit(s.url)._replace(scheme=host.scheme,
                                                                                         netloc=host.netloc))}))
        print(f"serving recorded responses from {here} on 127.0.0.1 ({', '.join(sorted(servers))})")
        return runner(str(path), mode="full", only=None, publish=True,
                      sources_file=sources.model_copy(update={"sources": local}))
