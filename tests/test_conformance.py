"""One contract for every harvester kind in the registry, run against each kind's own fixture server.

Every kind must: yield raw records with unique native ids (exactly the records its server holds);
honour an incremental window (only records whose ``source_modified`` falls inside it, and all of those;
a kind with no cursor reads everything by contract); stop with :class:`FatalSourceError` when the server
repeats a page or a token; survive one HTTP 500 (retried, then the same records); and fail on a body cut
short with a :class:`TruncatedResponseError` that names the source and the URL. And checkpoints
(docs/resume.md): a resumable kind resumed after any of its pages yields exactly the clean run's records
and asks only for the pages after it; a kind that cannot resume writes no checkpoint and starts over; through
the harvest stage, a retry of a run that failed part-way ends with the clean run's archive.

``ADAPTERS`` says, per kind, how to start its server (the one that kind's own tests use, serving its
recorded records) and how to make it misbehave. A kind registered without an adapter fails
``test_every_registered_kind_has_an_adapter`` and every parametrised test of its own. The servers that
live in a kind's test module are imported where they are used, so a module that cannot be imported
fails only that kind's cases.
"""

from __future__ import annotations

import copy
import csv
import json
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

import harvesters
from citycat.localcatalog import LocalCatalog
from citycat.localdcat import LocalDcat
from citycat.localoai import LocalOai, items_from_response
from citycat.localportal import LocalPortal
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import FatalSourceError, Harvester, HarvestWindow, RawRecord
from harvesters.http import TruncatedResponseError

DATA = Path(__file__).parent / "data"
FULL = HarvestWindow()
GMD = "{http://www.isotc211.org/2005/gmd}"


# --------------------------------------------------------------------------- adapters


class Adapter:
    """How one kind's fixture server is started and broken. ``serve`` yields the running server."""

    options: dict[str, Any] = {}
    # Why the repeated page/token test does not apply (one document, nothing to page), or None.
    no_paging: str | None = None

    @contextmanager
    def serve(self) -> Iterator[Any]:
        raise NotImplementedError

    def url(self, server: Any) -> str:
        return server.url

    def ids(self, server: Any) -> set[str] | None:
        """The native ids the server holds, read from the fixture's data (None: only a count is known)."""
        raise NotImplementedError

    def count(self, server: Any) -> int:
        ids = self.ids(server)
        assert ids is not None
        return len(ids)

    def fail_once(self, server: Any) -> None:
        """The next listing request answers HTTP 500."""
        raise NotImplementedError

    def truncate(self, server: Any) -> None:
        """Every listing response is cut short of its Content-Length."""
        raise NotImplementedError

    def repeat(self, server: Any) -> None:
        """The server answers with a page or token already served."""
        raise NotImplementedError

    def redirect_loop(self, server: Any) -> None:
        """Single-document kinds: the document's URL redirects to itself."""
        raise NotImplementedError

    def heal(self, server: Any) -> None:
        """Drop every pending fault: the source is well again."""
        server.clear_faults()


class CkanAdapter(Adapter):
    """A synthetic portal (citycat.synthetic) paged by 10: every window is a slice of its history."""

    count_served = 25
    options = {"rows": 10}

    @contextmanager
    def serve(self) -> Iterator[LocalPortal]:
        with LocalPortal.synthetic(self.count_served) as portal:
            yield portal

    def ids(self, server: LocalPortal) -> set[str]:
        return {server.store.set.package_id(i) for i in range(self.count_served)}

    def fail_once(self, server: LocalPortal) -> None:
        server.inject("status", times=1, action="package_search", status=500)

    def truncate(self, server: LocalPortal) -> None:
        server.inject("truncate", times=-1, action="package_search")

    def repeat(self, server: LocalPortal) -> None:
        server.loop_search = True  # package_search ignores ``start``: page one forever


class DcatAdapter(Adapter):
    """Turtle pages linked by ``hydra:next`` (3 pages of 3 datasets, each modified on its own day)."""

    pages, per_page = 3, 3
    head = ("@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .\n"
            "@prefix hydra: <http://www.w3.org/ns/hydra/core#> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n")

    def _page(self, site: LocalDcat, i: int, next_url: str | None) -> None:
        body = self.head
        for k in range(self.per_page):
            n = i * self.per_page + k
            body += (f"<https://data.example.org/id/ds-{n}> a dcat:Dataset ; dct:title \"Dataset {n}\" ; "
                     f"dct:modified \"2024-01-{n + 1:02d}T12:00:00Z\"^^xsd:dateTime .\n")
        page_url = f"{site.url}/feed/page-{i + 1}.ttl"
        body += f"<{site.url}/catalog> hydra:view <{page_url}> .\n<{page_url}> a hydra:PartialCollectionView"
        body += f" ; hydra:next <{next_url}> .\n" if next_url else " .\n"
        site.add(f"feed/page-{i + 1}.ttl", body, "text/turtle")

    @contextmanager
    def serve(self) -> Iterator[LocalDcat]:
        with LocalDcat() as site:
            for i in range(self.pages):
                self._page(site, i, f"{site.url}/feed/page-{i + 2}.ttl" if i + 1 < self.pages else None)
            yield site

    def url(self, server: LocalDcat) -> str:
        return f"{server.url}/feed/page-1.ttl"

    def ids(self, server: LocalDcat) -> set[str]:
        return {f"https://data.example.org/id/ds-{n}" for n in range(self.pages * self.per_page)}

    def fail_once(self, server: LocalDcat) -> None:
        server.inject("status", times=1, status=500)

    def truncate(self, server: LocalDcat) -> None:
        server.inject("truncate", times=-1)

    def repeat(self, server: LocalDcat) -> None:
        self._page(server, self.pages - 1, self.url(server))  # the last page links back to the first


class SingleDocumentAdapter(Adapter):
    """The test servers of the one-document kinds share a fault vocabulary: status, truncate, loop."""

    def fail_once(self, server: Any) -> None:
        server.inject("status", times=1)

    def truncate(self, server: Any) -> None:
        server.inject("truncate", times=-1)

    def redirect_loop(self, server: Any) -> None:
        server.inject("loop", times=-1)


class DcatUsAdapter(SingleDocumentAdapter):
    """The recorded CFTC data.json with the recorded ArcGIS Hub (APUR) datasets appended: 6 of the 10 have
    only a repeating interval (``R/P1W``) as ``modified``, which no window can exclude."""

    no_paging = ("dcat-us reads one data.json document per run: there are no pages or resumption tokens that "
                 "could repeat (its one repeat, a redirect loop, is test_single_document_redirect_loop_is_fatal)")

    @staticmethod
    def document() -> dict[str, Any]:
        doc = json.loads((DATA / "dcat_us" / "cftc_data.json").read_text(encoding="utf-8"))
        apur = json.loads((DATA / "dcat_us" / "apur_arcgis_opendata_data.json").read_text(encoding="utf-8"))
        doc["dataset"] += apur["dataset"]
        return doc

    @contextmanager
    def serve(self) -> Iterator[Any]:
        from test_dcat_us_harvester import DataJsonServer

        with DataJsonServer({"/data.json": self.document()}) as server:
            yield server

    def url(self, server: Any) -> str:
        return server.base + "/data.json"

    def ids(self, server: Any) -> set[str]:
        return {d["identifier"].strip() for d in self.document()["dataset"]}


class OaiAdapter(Adapter):
    """The recorded Zenodo ListRecords plus a recorded DSpace tombstone, two records a page."""

    @staticmethod
    def items() -> list[Any]:
        return (items_from_response(DATA / "oai_pmh" / "zenodo_listrecords_oai_dc.xml", "oai_dc")
                + items_from_response(DATA / "oai_pmh" / "eur_dspace_getrecord_deleted.xml", "oai_dc"))

    @contextmanager
    def serve(self) -> Iterator[LocalOai]:
        with LocalOai(self.items(), page_size=2) as repo:
            yield repo

    def ids(self, server: LocalOai) -> set[str]:
        return {item.identifier for item in self.items()}

    def fail_once(self, server: LocalOai) -> None:
        server.inject("status", times=1, verb="ListRecords", status=500)

    def truncate(self, server: LocalOai) -> None:
        server.inject("truncate", times=-1, verb="ListRecords")

    def repeat(self, server: LocalOai) -> None:
        server.inject("repeat_token", times=-1)  # hands back the token it was asked with


class CswAdapter(Adapter):
    """12 recorded ISO 19139 records behind the stdlib CSW fault server, which caps pages at 10 like pycsw
    and ignores the window's OGC filter (so the harvester's own re-check is what is tested)."""

    records = sorted((DATA / "csw" / "pycsw").glob("*.xml"))[:12]

    @contextmanager
    def serve(self) -> Iterator[Any]:
        from test_csw_harvester import FakeCsw

        with FakeCsw([p.read_bytes() for p in self.records]) as csw:
            yield csw

    def ids(self, server: Any) -> set[str]:
        return {" ".join("".join(ET.parse(p).getroot().find(GMD + "fileIdentifier").itertext()).split())
                for p in self.records}

    def fail_once(self, server: Any) -> None:
        server.faults.append((500, b"<html>Internal Server Error</html>", {}))

    def truncate(self, server: Any) -> None:
        page = server.page(1, 10)
        server.faults += [(200, page[:500], {"Content-Length": str(len(page))})] * 10

    def repeat(self, server: Any) -> None:
        server.ignore_start = True  # startPosition ignored: page one forever

    def heal(self, server: Any) -> None:
        server.faults.clear()


class CatalogAdapter(Adapter):
    """citycat.localcatalog plays both offset-paged JSON catalog APIs; faults are scoped by a path prefix."""

    flavour = ""
    path = ""

    def items(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    @contextmanager
    def serve(self) -> Iterator[LocalCatalog]:
        with LocalCatalog(self.flavour, self.items()) as cat:
            yield cat

    def fail_once(self, server: LocalCatalog) -> None:
        server.inject("status", times=1, path=self.path, status=500)

    def truncate(self, server: LocalCatalog) -> None:
        server.inject("truncate", times=-1, path=self.path)

    def repeat(self, server: LocalCatalog) -> None:
        server.inject("repeat_page", times=-1, path=self.path)  # the first page, whatever the offset


class SocrataAdapter(CatalogAdapter):
    """The Seattle catalog entries (two datasets, derived views, a story) and three more datasets built
    from the plain one, updated on other days, so that a window has something on both sides."""

    options = {"page_size": 2, "domain": "data.seattle.gov"}
    flavour, path = "socrata", "/api/catalog/v1"

    def items(self) -> list[dict[str, Any]]:
        doc = json.loads((DATA / "socrata" / "catalog_v1_built_from_view.json").read_text(encoding="utf-8"))
        entries = doc["results"]
        plain = next(e for e in entries if e["resource"]["id"] == "kzjm-xkqj")
        for day in (1, 2, 3):
            clone = copy.deepcopy(plain)
            clone["resource"].update(id=f"conf-000{day}", updatedAt=f"2015-07-0{day}T09:00:00.000Z")
            entries.append(clone)
        return entries

    def ids(self, server: LocalCatalog) -> set[str]:
        return {e["resource"]["id"] for e in self.items() if e["resource"]["type"] == "dataset"}


class OpenDataSoftAdapter(CatalogAdapter):
    """The Explore v2.1 catalog built from the recorded Etalab sandbox, three datasets a page."""

    options = {"page_size": 3}
    flavour, path = "ods-v2.1", "/api/explore"

    def items(self) -> list[dict[str, Any]]:
        doc = json.loads((DATA / "opendatasoft" / "explore_v21_built_from_v1.json").read_text(encoding="utf-8"))
        return doc["results"]

    def ids(self, server: LocalCatalog) -> set[str]:
        return {d["dataset_id"] for d in self.items()}


class RegisterAdapter(SingleDocumentAdapter):
    """The test borough's CSV information asset register, served over HTTP."""

    csv_path = DATA / "register" / "register.csv"
    # The column mapping of tests/test_register.py: header in the file for each field.
    options = {"columns": {"title": "Information Asset", "description": "Description",
                           "owner": "Information Asset Owner", "licence": "Licence", "format": "Format",
                           "frequency": "Update Frequency", "contact": "Contact", "identifier": "Asset ID",
                           "url": "Link", "access": "Security Classification", "modified": "Last Reviewed"}}
    no_paging = ("register reads one CSV/XLSX file per run: there are no pages or tokens that could repeat "
                 "(its one repeat, a redirect loop, is test_single_document_redirect_loop_is_fatal)")

    @contextmanager
    def serve(self) -> Iterator[Any]:
        from test_register import RegisterServer

        with RegisterServer({"/iar.csv": (self.csv_path.read_bytes(), "text/csv; charset=utf-8")}) as server:
            yield server

    def url(self, server: Any) -> str:
        return server.base + "/iar.csv"

    def ids(self, server: Any) -> None:
        return None  # rows without an Asset ID get content ids; the count is what the file fixes

    def count(self, server: Any) -> int:
        with self.csv_path.open(encoding="utf-8-sig", newline="") as f:
            return sum(1 for row in csv.DictReader(f) if any((v or "").strip() for v in row.values()))


ADAPTERS: dict[str, Adapter] = {
    "ckan": CkanAdapter(), "dcat": DcatAdapter(), "dcat-us": DcatUsAdapter(), "oai-pmh": OaiAdapter(),
    "csw": CswAdapter(), "socrata": SocrataAdapter(), "opendatasoft": OpenDataSoftAdapter(),
    "register": RegisterAdapter(),
}

harvesters.load_builtin()
KINDS = sorted(harvesters.registry())


def adapter_for(kind: str) -> Adapter:
    if kind not in ADAPTERS:
        pytest.fail(f"harvester kind {kind!r} has no conformance adapter: add one to ADAPTERS in {__file__}")
    return ADAPTERS[kind]


def paged_kinds() -> list[Any]:
    return [pytest.param(k, marks=pytest.mark.skip(reason=ADAPTERS[k].no_paging))
            if k in ADAPTERS and ADAPTERS[k].no_paging else k for k in KINDS]


def harvester(kind: str, url: str, http: Any, **options: Any) -> Harvester:
    cls = harvesters.get(kind)
    return cls(f"conformance-{kind}", url, cls.Options(**{"requests_per_second": 100, **options}), http)


def run(kind: str, server: Any, http: Any, window: HarvestWindow = FULL, mode: str = "full"
        ) -> tuple[Harvester, list[RawRecord]]:
    adapter = ADAPTERS[kind]
    h = harvester(kind, adapter.url(server), http, **adapter.options)
    return h, list(h.records(window, mode))  # type: ignore[arg-type]


def when(value: str | None) -> datetime | None:
    """``source_modified`` is ISO 8601; a value without a zone is UTC (as the sources mean it)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------- the contract


def test_every_registered_kind_has_an_adapter():
    missing = sorted(set(KINDS) - set(ADAPTERS))
    assert missing == [], f"kinds without a conformance adapter: {missing}"
    assert sorted(ADAPTERS) == KINDS, "an adapter for a kind that is not registered"


@pytest.mark.parametrize("kind", KINDS)
def test_full_harvest_yields_each_served_record_once_with_a_unique_native_id(kind, fast_http):
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        h, records = run(kind, server, fast_http)
        expected, count = adapter.ids(server), adapter.count(server)
    ids = [r.native_id for r in records]
    assert len(ids) == len(set(ids)) == count
    if expected is not None:
        assert set(ids) == expected
    assert all(isinstance(r, RawRecord) and r.source_id == f"conformance-{kind}" and r.native_id for r in records)
    assert [RawRecord.from_json(r.to_json()) for r in records] == records  # the raw archive keeps them whole
    assert h.stats.complete_listing is True
    if adapter.no_paging is None:
        assert h.stats.pages >= 2, "the fixture must make the kind page, or paging is not exercised"


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_run_yields_exactly_the_records_modified_inside_the_window(kind, fast_http):
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        _, everything = run(kind, server, fast_http)
        dated = {r.native_id: when(r.source_modified) for r in everything if r.source_modified}
        stamps = sorted(set(dated.values()))
        assert len(stamps) >= 3, "the fixture needs records modified at three different times"
        window = HarvestWindow(stamps[1], stamps[-1])  # excludes the oldest and the newest, half-open
        h, got = run(kind, server, fast_http, window, "incremental")
    ids = {r.native_id for r in got}
    if harvesters.get(kind).cursor is None:
        # No cursor: the kind declares it cannot filter, so every run lists everything.
        assert ids == {r.native_id for r in everything}
        return
    undated = {r.native_id for r in everything} - set(dated)
    assert ids == {i for i, t in dated.items() if window.contains(t)} | undated
    assert all(window.contains(when(r.source_modified)) for r in got if r.source_modified)
    assert len(ids) < len(everything) and h.stats.complete_listing is False


@pytest.mark.parametrize("kind", paged_kinds())
def test_repeated_page_or_token_stops_with_a_fatal_error(kind, fast_http):
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        adapter.repeat(server)
        with pytest.raises(FatalSourceError, match="paging loop") as err:
            run(kind, server, fast_http)
    assert err.value.source_id == f"conformance-{kind}"


@pytest.mark.parametrize("kind", [k for k in KINDS if k in ADAPTERS and ADAPTERS[k].no_paging])
def test_single_document_redirect_loop_is_fatal(kind, fast_http):
    adapter = ADAPTERS[kind]
    with adapter.serve() as server:
        adapter.redirect_loop(server)
        with pytest.raises(FatalSourceError, match="redirects") as err:
            run(kind, server, fast_http)
    assert err.value.source_id == f"conformance-{kind}"


@pytest.mark.parametrize("kind", KINDS)
def test_one_http_500_is_retried_and_the_run_succeeds(kind, fast_http, sleeps):
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        clean, baseline = run(kind, server, fast_http)
        assert sleeps.waits == []
        adapter.fail_once(server)
        h, records = run(kind, server, fast_http)
    assert [r.native_id for r in records] == [r.native_id for r in baseline]
    assert len(sleeps.waits) == 1 and h.stats.requests == clean.stats.requests + 1
    assert h.stats.complete_listing is True


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_body_is_a_typed_error_naming_source_and_url(kind, fast_http, sleeps):
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        adapter.truncate(server)
        with pytest.raises(TruncatedResponseError, match="truncated body") as err:
            run(kind, server, fast_http)
        host = adapter.url(server).split("/")[2]
    assert err.value.source_id == f"conformance-{kind}"
    assert f"source=conformance-{kind}" in str(err.value) and f"http://{host}/" in str(err.value)
    assert len(sleeps.waits) == fast_http.max_retries  # retried before giving up


# --------------------------------------------------------------------------- checkpoints and resume (docs/resume.md)


def content(records: list[RawRecord]) -> list[tuple[Any, ...]]:
    """What a resumed harvest must reproduce: every field but ``fetched_at`` (the clock of each attempt)."""
    return [(r.native_id, json.dumps(r.payload, sort_keys=True), r.deleted, r.source_modified) for r in records]


def resumable_kinds() -> list[Any]:
    return [k if harvesters.get(k).resumable else
            pytest.param(k, marks=pytest.mark.skip(reason=f"{k} is not resumable: "
                                                          f"{harvesters.get(k).not_resumable_because}"))
            for k in KINDS]


@pytest.mark.parametrize("mode", ["full", "incremental"])
@pytest.mark.parametrize("kind", resumable_kinds())
def test_resumable_kind_resumed_after_any_page_yields_exactly_the_clean_runs_records(kind, mode, fast_http):
    """A harvest stopped right after each page's checkpoint in turn, then resumed by a fresh harvester
    from that checkpoint and the records archived so far, ends with the clean run's records, asks the
    source only for the pages after the checkpoint, and (full mode) still knows its listing is complete.
    Incremental runs use the window of the incremental test above: the resumed listing keeps its filter."""
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        window = FULL
        if mode == "incremental":
            _, everything = run(kind, server, fast_http)
            stamps = sorted({when(r.source_modified) for r in everything if r.source_modified})
            window = HarvestWindow(stamps[1], stamps[-1])
        clean = harvester(kind, adapter.url(server), fast_http, **adapter.options)
        points: list[tuple[dict[str, Any], int]] = []
        written: list[RawRecord] = []
        clean.on_page = lambda state: points.append((json.loads(json.dumps(state)), len(written)))
        for record in clean.records(window, mode):  # type: ignore[arg-type]
            written.append(record)
        assert clean.stats.complete_listing is (mode == "full")
        assert len(points) == clean.stats.pages >= 1, "one checkpoint per page"
        assert mode == "incremental" or len(points) >= 2
        for k, (state, archived) in enumerate(points, start=1):
            h = harvester(kind, adapter.url(server), fast_http, **adapter.options)
            h.resume(state, [r.native_id for r in written[:archived]])
            rest = list(h.records(window, mode))  # type: ignore[arg-type]
            assert content(written[:archived] + rest) == content(written), f"resumed after page {k}"
            assert h.stats.requests == clean.stats.requests - k, f"resumed after page {k} re-asked earlier pages"
            assert h.stats.pages == clean.stats.pages and h.stats.complete_listing is (mode == "full")
            assert h.stats.skipped == clean.stats.skipped


@pytest.mark.parametrize("kind", [k for k in KINDS if not harvesters.get(k).resumable])
def test_non_resumable_kind_writes_no_checkpoint_and_refuses_to_resume(kind, fast_http):
    adapter = adapter_for(kind)
    with adapter.serve() as server:
        h = harvester(kind, adapter.url(server), fast_http, **adapter.options)
        calls: list[Any] = []
        h.on_page = calls.append
        assert list(h.records(FULL, "full"))  # type: ignore[arg-type]
    assert calls == [] and len(harvesters.get(kind).not_resumable_because) > 20
    with pytest.raises(TypeError, match=f"kind {kind!r} cannot resume"):
        h.resume({"position": {}, "stats": {}}, [])


@pytest.mark.parametrize("kind", KINDS)
def test_failed_attempt_then_retry_of_the_same_run_ends_with_the_clean_records(kind, fast_http, tmp_path, caplog,
                                                                             monkeypatch):
    """Through the harvest stage: an attempt whose source breaks for good (bodies cut short, beyond the
    client's retries) right after its first checkpoint, then the retry with the same run id once the source
    is healed. Resumable kinds continue from the checkpoint (fewer requests than a clean run); the others
    start over. Either way the archive holds exactly the clean run's records and no checkpoint is left."""
    from citycat import archive, pipeline
    from citycat.checkpoint import RunArchive, path_for
    from citycat.config import SourceConfig

    adapter = adapter_for(kind)
    resumable = harvesters.get(kind).resumable
    with adapter.serve() as server:
        source = SourceConfig(id=f"conf-{kind.replace('-', '')}", title=kind, kind=kind, url=adapter.url(server),
                              institution={"name": "Test Council", "kind": "council"},
                              options={"requests_per_second": 100, **adapter.options})

        def harvest(run_id: str, data_dir: Path) -> Any:
            return pipeline.harvest(source, run_id, "full", window_start=None, window_end=None, data_dir=data_dir,
                                    http=fast_http)

        clean = harvest("clean", tmp_path / "clean")
        expected = content([RawRecord.from_json(line) for line in archive.read_lines(Path(clean.raw_path))])
        original = RunArchive._checkpoint

        def checkpoint_then_break_the_source(self: RunArchive, state: dict[str, Any]) -> None:
            original(self, state)
            if self.checkpoints == 1:
                adapter.truncate(server)

        monkeypatch.setattr(RunArchive, "_checkpoint", checkpoint_then_break_the_source)
        if not resumable:
            adapter.truncate(server)  # no checkpoint will come: break it from the first request
        with pytest.raises(TruncatedResponseError):
            harvest("r1", tmp_path / "data")
        monkeypatch.undo()
        raw = archive.raw_path(tmp_path / "data", source.id, "r1")
        assert not raw.exists(), "a failed attempt must not leave an archive that looks complete"
        assert path_for(raw).exists() is resumable
        adapter.heal(server)
        caplog.set_level("INFO", logger="citycat.checkpoint")
        again = harvest("r1", tmp_path / "data")
    got = content([RawRecord.from_json(line) for line in archive.read_lines(raw)])
    assert got == expected and again.seen == clean.seen and again.complete_listing is True
    assert not path_for(raw).exists(), "the checkpoint is removed once the archive is complete"
    if resumable:
        assert again.resumed is not None and again.resumed["after_page"] == 1
        assert again.requests < clean.requests and "resuming the harvest after page 1" in caplog.text
    else:
        assert again.resumed is None and again.requests == clean.requests
