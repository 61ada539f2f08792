"""What the stage benchmarks share (``from _common import ...``; a script's own folder is on sys.path).

``SOURCES`` is the one-source sources.yaml of a synthetic CKAN portal and ``write_archive`` writes the raw
archive of n synthetic packages (``citycat.synthetic``) harvested from it, so every benchmark of a later
stage starts from the same run.
"""

from __future__ import annotations

from pathlib import Path

SOURCES = """catalog:
  base_uri: http://localhost:8000
  title: bench
sources:
  - id: bench
    title: synthetic portal
    kind: ckan
    url: https://data.example.org
    institution: {name: Bench Council, kind: council}
"""


def write_archive(path: Path, n: int) -> None:
    """The raw archive (gzip JSON lines) of a run that harvested n synthetic packages for source ``bench``."""
    from citycat import archive
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord

    pkgs = SyntheticPackages(SyntheticSpec(count=n))
    with archive.write_lines(path) as fh:
        for i in range(n):
            p = pkgs.package(i)
            fh.write(RawRecord("bench", p["id"], "2026-11-20T00:00:00+00:00", "application/json", p,
                               p["state"] == "deleted", p["metadata_modified"]).to_json())
            fh.write("\n")
