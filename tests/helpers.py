"""Plain helpers the test modules share (``from helpers import ...``; tests/ is on sys.path).

Kept here so that every kind's tests read their documented mapping table, follow its property paths,
write a sources.yaml and check published feed pages the same way: a fix to one of these then reaches
every kind at once instead of drifting between copies. Fixtures built on them live in conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph, URIRef

from transforms.rdf import PREFIXES

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "examples" / "ckan"  # the recorded CKAN portal the end-to-end tests harvest


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- documented property paths


def curie(step: str, prefixes: Mapping[str, Any] = PREFIXES) -> URIRef:
    """``dct:title`` → its IRI, with the prefixes the mapping docs use."""
    prefix, _, local = step.partition(":")
    return URIRef(str(prefixes[prefix]) + local)


def follow(graph: Graph, start: URIRef, path: str, prefixes: Mapping[str, Any] = PREFIXES) -> set:
    """The nodes a documented path such as ``dct:publisher/foaf:name`` reaches from ``start``;
    a ``^`` step is followed backwards. Empty when any step finds nothing."""
    nodes = {start}
    for step in path.split("/"):
        p = curie(step.lstrip("^"), prefixes)
        inverse = step.startswith("^")
        nodes = {n for x in nodes for n in (graph.subjects(p, x) if inverse else graph.objects(x, p))}
    return nodes


# ----------------------------------------------------------------------------- documented mapping tables


def doc_rows(doc: str, *, section: str | None = None, after: str | None = None, before: str | None = None,
             sep: str = "|") -> list[list[str]]:
    """The cells of each field row (a line starting ``| `name```) of ``docs/<doc>``.

    ``after``/``before`` cut the text at the first occurrence of a marker; ``section`` keeps only the
    lines under the ``## <section>`` heading(s); ``sep`` is what a row is split on."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    if after is not None:
        text = text.split(after, 1)[1]
    if before is not None:
        text = text.split(before, 1)[0]
    rows, inside = [], section is None
    for line in text.splitlines():
        if section is not None and line.startswith("## "):
            inside = line[3:].strip() == section
        elif inside and line.startswith("| `"):
            rows.append([c.strip() for c in line.strip().strip("|").split(sep)])
    return rows


def doc_table(doc: str, **where: Any) -> dict[str, tuple[str, ...]]:
    """``{source field: (documented output paths, ...)}`` from the table ``doc_rows`` selects: the shape of
    each mapping module's ``FIELD_MAP``, so a test can demand the two be equal."""
    return {cells[0].strip("`"): tuple(re.findall(r"`([^`]+)`", cells[1])) for cells in doc_rows(doc, **where)}


# ----------------------------------------------------------------------------- end to end


def write_sources(path: Path, *entries: dict, page_size: int = 2) -> Path:
    """A sources.yaml with one source per entry: ``id``, ``url`` and optional ``title``, ``kind`` (ckan),
    ``institution`` (Test Council), ``institution_kind`` (council), ``options`` (written as JSON) and
    ``quality``."""
    lines = ["catalog:", "  base_uri: http://localhost:8000", "  title: test inventory", f"  page_size: {page_size}",
             "sources:"]
    for e in entries:
        lines += [f"  - id: {e['id']}", f"    title: {e.get('title', e['id'])}", f"    kind: {e.get('kind', 'ckan')}",
                  f"    url: {e['url']}", "    institution:", f"      name: {e.get('institution', 'Test Council')}",
                  f"      kind: {e.get('institution_kind', 'council')}"]
        for k, v in e.get("options", {}).items():
            lines.append(f"    {k}: {json.dumps(v)}")
        if "quality" in e:
            lines.append("    quality:")
            lines += [f"      {k}: {v}" for k, v in e["quality"].items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_kind_sources(path: Path, kind: str, source_id: str, url: str, *, title: str | None = None,
                       institution: str, institution_kind: str, catalog_page_size: int = 2, **options: Any) -> Path:
    """One source of ``kind`` paced at 100 requests/s (tests talk to 127.0.0.1 only), plus ``options``
    (a source's own ``page_size`` among them; the feed's is ``catalog_page_size``)."""
    return write_sources(path, {"id": source_id, "title": title or source_id, "kind": kind, "url": url,
                                "institution": institution, "institution_kind": institution_kind,
                                "options": {"requests_per_second": 100, **options}}, page_size=catalog_page_size)


def sqlite_inventory(db: Path):
    """A migrated SQLite inventory at ``db`` (the caller closes it)."""
    from inventory import Inventory

    inv = Inventory(f"sqlite:///{db}")
    inv.migrate()
    return inv


# Params for an ``inv`` fixture that runs a module's tests on both backends (see ``both_backends_inventory``).
INVENTORY_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def twin_packages(folder: Path) -> list[Path]:
    """Two copies of a real recorded CKAN package (``twin-0``, ``twin-1``) written to ``folder``, both claiming
    one dataset URI: the critical uri_unique expectation fails on them."""
    base = json.loads((RECORDED / "dgu_package_show_inspire.json").read_text())
    pkg = base["result"] if "result" in base else base
    out = []
    for i in range(2):
        p = json.loads(json.dumps(pkg))
        p["id"], p["name"] = f"twin-{i}", f"twin-{i}"
        p["extras"] = [e for e in p.get("extras", []) if e.get("key") != "uri"]
        p["extras"].append({"key": "uri", "value": "https://example.org/dataset/same"})
        (folder / f"twin{i}.json").write_text(json.dumps(p))
        out.append(folder / f"twin{i}.json")
    return out


def both_backends_inventory(request, db: Path) -> Iterator:
    """The body of an ``inv`` fixture parametrised with ``INVENTORY_BACKENDS`` (``yield from`` it): a migrated
    SQLite inventory at ``db``, closed afterwards, or the session's PostgreSQL one (``pg_inventory``) with
    every table of the model truncated first."""
    if request.param == "sqlite":
        inventory = sqlite_inventory(db)
        yield inventory
        inventory.close()
        return
    from inventory.models import metadata

    inventory = request.getfixturevalue("pg_inventory")
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with inventory.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    yield inventory


def feed_pages(data_dir: Path) -> list[Path]:
    """The published feed's page files, in page order."""
    return sorted((data_dir / "feed" / "catalog").glob("page-*.ttl"))


def validated_pages(pages: list[Path]) -> Iterator[tuple[Path, Graph, Any]]:
    """(page, its graph, its SHACL result against the DCAT-AP 3 shapes) for each page."""
    from expectations.shacl import validate_graph

    for page in pages:
        g = Graph().parse(page, format="turtle")
        yield page, g, validate_graph(g)


def assert_pages_conform(pages: list[Path]) -> None:
    for page, _, result in validated_pages(pages):
        assert result.conforms, (page.name, result.messages)


# ----------------------------------------------------------------------------- local services


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_base_env(home: Path) -> dict[str, str]:
    """This process's environment without any AIRFLOW*/CITYCAT* variable, plus an Airflow home at ``home``
    reading the project's dags/ folder (no example DAGs, not in unit-test mode); callers add the rest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CITYCAT"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    })
    return env
