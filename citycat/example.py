"""The offline example: a real local CKAN API serving recorded responses, harvested end to end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def run_example(path: Path, *, runner: Callable[..., int]) -> int:
    """Serve ``<path's folder>/ckan/*.json`` on 127.0.0.1 and run every source in ``path`` against it.

    The example writes under ``./data/example`` (unless ``CITYCAT_DATA_DIR`` is set) so it
    never mixes recorded datasets into the real inventory.
    """
    from citycat.config import load_sources
    from citycat.localportal import DirectoryStore, LocalPortal

    os.environ.setdefault("CITYCAT_DATA_DIR", str(Path("data") / "example"))
    sources = load_sources(path)
    recorded = Path(path).parent / "ckan"
    with LocalPortal(DirectoryStore.from_directory(recorded)) as portal:
        local = sources.model_copy(update={"sources": [s.model_copy(update={"url": portal.url})
                                                       for s in sources.sources]})
        print(f"serving {recorded} at {portal.url}")
        return runner(str(path), mode="full", only=None, publish=True, sources_file=local)
