"""The offline example a newcomer runs first: every source succeeds and the feed has them all."""

from __future__ import annotations

from pathlib import Path

import rdflib
from rdflib.namespace import DCAT, RDF

from citycat import cli
from citycat.config import load_sources
from inventory import Inventory

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "sources.yaml"


def test_offline_example_builds_inventory_and_feed_from_every_kind(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CITYCAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CITYCAT_DATABASE_URL", raising=False)
    assert cli.main(["example", "--sources", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    sources = load_sources(EXAMPLES).sources
    assert {s.kind for s in sources} >= {"ckan", "dcat", "oai-pmh"}
    inv = Inventory(f"sqlite:///{tmp_path / 'data' / 'inventory.sqlite'}")
    counts = {s.id: inv.count_datasets(status="active", source_id=s.id) for s in sources}
    assert counts == {"example-ckan": 3, "example-rostock": 1, "example-zenodo": 4}, out
    feed = rdflib.Graph().parse(tmp_path / "data" / "feed" / "catalog.ttl", format="turtle")
    assert len(set(feed.subjects(RDF.type, DCAT.Dataset))) == 8
