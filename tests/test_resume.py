"""Resumable harvests (docs/resume.md): a harvest stopped part-way continues from its last checkpoint.

The portal is citycat's local CKAN API (a synthetic catalogue) on 127.0.0.1; the harvest stage is the real
one, in a child process where it has to be killed. Every comparison is against a clean run of the same
portal: same native ids, same payloads, in the same order, no duplicates, no gaps.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import harvesters
from citycat import archive, pipeline
from citycat.checkpoint import RunArchive, path_for
from citycat.config import SourceConfig
from citycat.localoai import LocalOai, items_from_response
from citycat.localportal import LocalPortal, _action
from citycat.localserver import Fault, Reply, Request
from citycat.synthetic import SyntheticSpec, SyntheticStore
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import RawRecord
from harvesters.http import TruncatedResponseError
from harvesters.paging import NextLinkPaginator, OffsetPaginator, TokenPaginator

harvesters.load_builtin()  # SourceConfig types each kind's options from the registry
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
RUN_END = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)  # the run's reference time: the same on every try
ROWS, COUNT = 10, 95


def ckan_source(url: str, **options: Any) -> SourceConfig:
    return SourceConfig(id="leeds", title="Leeds", kind="ckan", url=url,
                        institution={"name": "Leeds City Council", "kind": "council"},
                        options={"rows": ROWS, "requests_per_second": 100, **options})


def harvest(source: SourceConfig, data_dir: Path, run_id: str = "scheduled__2026-11-28", http: Any = None,
            **kw: Any) -> pipeline.HarvestOutcome:
    return pipeline.harvest(source, run_id, "full", window_start=None, window_end=RUN_END, data_dir=data_dir,
                            http=http, **kw)


def content(path: Path) -> list[tuple[Any, ...]]:
    """The archive's records minus ``fetched_at`` (each attempt's own clock)."""
    records = [RawRecord.from_json(line) for line in archive.read_lines(path)]
    return [(r.native_id, json.dumps(r.payload, sort_keys=True), r.deleted, r.source_modified) for r in records]


def search_starts(portal: LocalPortal) -> list[int]:
    return [int(r["params"].get("start", 0)) for r in portal.requests if r["action"] == "package_search"]


class HoldingPortal(LocalPortal):
    """Holds the ``package_search`` asking for ``hold_start`` until released: the child harvest is then
    parked between pages, its checkpoint for the pages before written, when the test kills it."""

    def __init__(self, count: int) -> None:
        super().__init__(SyntheticStore(SyntheticSpec(count=count)))
        self.hold_start: int | None = None  # set to arm the hold
        self.reached = threading.Event()
        self.release = threading.Event()

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        if (_action(request) == "package_search" and int(request.params.get("start", 0)) == self.hold_start
                and not self.release.is_set()):
            self.reached.set()
            self.release.wait(20)
        return super().answer(request, fault)


CHILD = """
import sys
from datetime import datetime
from pathlib import Path
import harvesters
from citycat import pipeline
from citycat.config import SourceConfig
harvesters.load_builtin()
url, data_dir, run_id, end = sys.argv[1:5]
source = SourceConfig(id="leeds", title="Leeds", kind="ckan", url=url,
                      institution={"name": "Leeds City Council", "kind": "council"},
                      options={"rows": %d, "requests_per_second": 100})
pipeline.harvest(source, run_id, "full", window_start=None, window_end=datetime.fromisoformat(end),
                 data_dir=Path(data_dir))
""" % ROWS


def test_worker_killed_mid_harvest_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL (no cleanup, no finally) while the harvest waits for page 5: the retry with the same run id
    asks only for pages 5..10 and the archive then equals a clean run's."""
    k = 4
    with HoldingPortal(COUNT) as portal:
        clean = harvest(ckan_source(portal.url), tmp_path / "clean", run_id="clean")
        portal.requests.clear()
        portal.hold_start = k * ROWS
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, "-c", CHILD, portal.url, str(tmp_path / "data"),
                                  "scheduled__2026-11-28", RUN_END.isoformat()], cwd=ROOT, env=env,
                                 stderr=subprocess.PIPE)
        try:
            assert portal.reached.wait(30), child.stderr.read().decode() if child.poll() is not None else "no page 5"
            child.send_signal(signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL
        finally:
            portal.release.set()
            if child.poll() is None:
                child.kill()
            child.stderr.close()
        raw = archive.raw_path(tmp_path / "data", "leeds", "scheduled__2026-11-28")
        saved = json.loads(path_for(raw).read_text())
        assert not raw.exists() and saved["records"] == k * ROWS
        assert saved["harvester"]["position"]["pager"]["offset"] == k * ROWS
        with open(raw.with_name(raw.name + ".part"), "rb") as fh:  # the checkpointed prefix is whole gzip
            assert len(gzip.decompress(fh.read(saved["archive_bytes"])).splitlines()) == k * ROWS

        assert search_starts(portal) == [0, 10, 20, 30, 40]
        portal.requests.clear()
        again = harvest(ckan_source(portal.url), tmp_path / "data")
        assert search_starts(portal) == list(range(k * ROWS, COUNT, ROWS))
    assert again.resumed == {"after_page": k, "records": k * ROWS,
                             "checkpoint_written_at": saved["written_at"]}
    assert content(raw) == content(Path(clean.raw_path)) and len(content(raw)) == COUNT
    assert again.seen == COUNT and again.pages == clean.pages and again.complete_listing is True
    assert not path_for(raw).exists() and not raw.with_name(raw.name + ".part").exists()


def interrupted(source: SourceConfig, portal: LocalPortal, data_dir: Path, fast_http: Any, pages: int) -> Path:
    """A harvest whose source breaks (bodies cut short, for good) after ``pages`` checkpoints; its raw path."""
    original = RunArchive._checkpoint

    def checkpoint_then_break(self: RunArchive, state: dict[str, Any]) -> None:
        original(self, state)
        if self.checkpoints == pages:
            portal.inject("truncate", times=-1, action="package_search")

    RunArchive._checkpoint = checkpoint_then_break  # type: ignore[method-assign]
    try:
        with pytest.raises(TruncatedResponseError):
            harvest(source, data_dir, http=fast_http)
    finally:
        RunArchive._checkpoint = original  # type: ignore[method-assign]
    portal.clear_faults()
    return archive.raw_path(data_dir, source.id, "scheduled__2026-11-28")


def test_checkpoint_of_another_window_is_not_continued(tmp_path, fast_http, caplog):
    with LocalPortal.synthetic(COUNT) as portal:
        source = ckan_source(portal.url)
        raw = interrupted(source, portal, tmp_path, fast_http, pages=3)
        portal.requests.clear()
        caplog.set_level("INFO", logger="citycat.checkpoint")
        other_end = datetime(2026, 11, 29, tzinfo=timezone.utc)
        out = pipeline.harvest(source, "scheduled__2026-11-28", "full", window_start=None, window_end=other_end,
                               data_dir=tmp_path, http=fast_http)
        assert search_starts(portal)[0] == 0
    assert out.resumed is None and out.seen == COUNT and len({c[0] for c in content(raw)}) == COUNT
    assert "harvesting from the start: the checkpoint is of another harvest: its window_end is" in caplog.text


def test_changed_options_are_another_harvest(tmp_path, fast_http, caplog):
    with LocalPortal.synthetic(COUNT) as portal:
        interrupted(ckan_source(portal.url), portal, tmp_path, fast_http, pages=2)
        out = harvest(ckan_source(portal.url, rows=7), tmp_path, http=fast_http)
    assert out.resumed is None and out.seen == COUNT
    assert "its options_sha256 is" in caplog.text


def test_resume_false_forces_a_clean_harvest(tmp_path, fast_http, caplog):
    with LocalPortal.synthetic(COUNT) as portal:
        raw = interrupted(ckan_source(portal.url), portal, tmp_path, fast_http, pages=2)
        assert path_for(raw).exists()
        portal.requests.clear()
        out = harvest(ckan_source(portal.url), tmp_path, http=fast_http, resume=False)
        assert search_starts(portal) == list(range(0, COUNT, ROWS))
    assert out.resumed is None and out.seen == COUNT and "resume is off for this run" in caplog.text


def test_archive_shorter_than_its_checkpoint_starts_clean(tmp_path, fast_http, caplog):
    """A machine crash can lose what the page cache held; the checkpoint then promises bytes that are gone."""
    with LocalPortal.synthetic(COUNT) as portal:
        raw = interrupted(ckan_source(portal.url), portal, tmp_path, fast_http, pages=3)
        part = raw.with_name(raw.name + ".part")
        os.truncate(part, json.loads(path_for(raw).read_text())["archive_bytes"] - 5)
        out = harvest(ckan_source(portal.url), tmp_path, http=fast_http)
    assert out.resumed is None and out.seen == COUNT and len(content(raw)) == COUNT
    assert "the archive does not match the checkpoint" in caplog.text


def test_resume_after_the_last_page_only_finishes_the_archive(tmp_path, fast_http, monkeypatch):
    """Killed after the last page's checkpoint but before the archive was renamed: nothing is asked again."""
    with LocalPortal.synthetic(COUNT) as portal:
        clean = harvest(ckan_source(portal.url), tmp_path / "clean", run_id="clean", http=fast_http)

        def killed(self: RunArchive) -> None:
            raise KeyboardInterrupt("killed before the rename")

        monkeypatch.setattr(RunArchive, "commit", killed)
        with pytest.raises(KeyboardInterrupt):
            harvest(ckan_source(portal.url), tmp_path, http=fast_http)
        monkeypatch.undo()
        raw = archive.raw_path(tmp_path, "leeds", "scheduled__2026-11-28")
        assert json.loads(path_for(raw).read_text())["records"] == COUNT
        portal.requests.clear()
        out = harvest(ckan_source(portal.url), tmp_path, http=fast_http)
        assert search_starts(portal) == []
    assert out.resumed is not None and out.seen == COUNT and out.complete_listing is True
    assert content(raw) == content(Path(clean.raw_path))


def test_member_writer_prefix_at_each_boundary_is_a_whole_gzip_file(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    writer = archive.MemberWriter(path)
    lengths = []
    for page in range(3):
        for i in range(4):
            writer.write(json.dumps({"n": page * 4 + i}) + "\n")
        lengths.append(writer.boundary(sync=False))
    writer.close()
    data = path.read_bytes()
    for page, length in enumerate(lengths):
        assert [json.loads(x)["n"] for x in gzip.decompress(data[:length]).splitlines()] == list(range(4 * page + 4))
    again = archive.MemberWriter(path, append_at=lengths[0])
    again.write('{"n": 99}\n')
    again.close()
    assert [r["n"] for r in archive.iter_json(path)] == [0, 1, 2, 3, 99]


# --------------------------------------------------------------------------- OAI-PMH: tokens expire


def oai_source(url: str) -> SourceConfig:
    return SourceConfig(id="zen", title="Zenodo", kind="oai-pmh", url=url,
                        institution={"name": "Zenodo", "kind": "other"}, options={"requests_per_second": 100})


def test_oai_bad_resumption_token_after_resume_restarts_clean(tmp_path, fast_http, caplog):
    """Zenodo's tokens live minutes: a retry an hour later presents an expired one. The repository answers
    badResumptionToken; the stage drops the checkpoint and lists the repository again from the start,
    saying so, and the archive still holds each record once."""
    items = items_from_response(DATA / "oai_pmh" / "zenodo_listrecords_oai_dc.xml", "oai_dc")
    with LocalOai(items, page_size=2) as repo:
        clean = pipeline.harvest(oai_source(repo.url), "clean", "full", window_start=None, window_end=RUN_END,
                                 data_dir=tmp_path / "clean", http=fast_http)
        original = RunArchive._checkpoint

        def checkpoint_then_break(self: RunArchive, state: dict[str, Any]) -> None:
            original(self, state)
            if self.checkpoints == 1:
                repo.inject("truncate", times=-1, verb="ListRecords")

        RunArchive._checkpoint = checkpoint_then_break  # type: ignore[method-assign]
        try:
            with pytest.raises(TruncatedResponseError):
                pipeline.harvest(oai_source(repo.url), "r1", "full", window_start=None, window_end=RUN_END,
                                 data_dir=tmp_path, http=fast_http)
        finally:
            RunArchive._checkpoint = original  # type: ignore[method-assign]
        repo.clear_faults()
        repo.inject("expire_token", times=1)
        repo.requests.clear()
        caplog.set_level("INFO")
        out = pipeline.harvest(oai_source(repo.url), "r1", "full", window_start=None, window_end=RUN_END,
                               data_dir=tmp_path, http=fast_http)
        listed = [r for r in repo.requests if "ListRecords" in str(r)]
    raw = archive.raw_path(tmp_path, "zen", "r1")
    assert "no longer accepts the resumption token" in caplog.text
    assert "discarded the checkpoint, harvesting again from the start" in caplog.text
    assert "resumptionToken" in str(listed[0]) and "resumptionToken" not in str(listed[1])
    assert out.resumed is None and content(raw) == content(Path(clean.raw_path))
    assert out.complete_listing is True and not path_for(raw).exists()


# --------------------------------------------------------------------------- paginator positions


@pytest.mark.parametrize("make, feed", [
    (lambda: OffsetPaginator(3), lambda p, i: p.feed([f"{i}a", f"{i}b", f"{i}c"], total=9)),
    (lambda: TokenPaginator(), lambda p, i: p.feed(f"t{i}" if i < 3 else None, ids=[f"{i}"])),
    (lambda: NextLinkPaginator("http://x/1"), lambda p, i: p.feed(f"http://x/{i + 1}" if i < 3 else None)),
], ids=["offset", "token", "next-link"])
def test_paginator_restored_from_its_json_state_asks_for_the_same_next_pages(make, feed):
    unbroken, asked = make(), []
    for i, req in enumerate(unbroken, start=1):
        asked.append(req)
        feed(unbroken, i)
    first = make()
    req = next(iter(first))
    feed(first, 1)
    state = json.loads(json.dumps(first.state()))
    resumed, rest = make().restore(state), []
    for i, req in enumerate(resumed, start=2):
        rest.append(req)
        feed(resumed, i)
    assert rest == asked[1:] and resumed.done and resumed.pages == unbroken.pages == 3


def test_paginator_state_is_refused_mid_page_and_across_strategies():
    pager = OffsetPaginator(10)
    next(iter(pager))
    with pytest.raises(RuntimeError, match="awaits feed"):
        pager.state()
    pager.feed(["a"], total=1)
    with pytest.raises(ValueError, match="cannot resume from a 'offset' position"):
        TokenPaginator().restore(pager.state())


def test_package_edited_during_a_resumed_harvest_is_not_archived_twice(tmp_path, fast_http):
    """CKAN lists by ``metadata_modified``: a package edited mid-harvest moves to the end of the listing and
    is listed again. An unbroken run drops the second listing (its duplicate check); a resumed run must
    too, although the first listing was archived by the attempt that died: the stage seeds the check
    with the archived ids."""
    from citycat.localportal import DirectoryStore

    def portal_store() -> DirectoryStore:
        packages = SyntheticStore(SyntheticSpec(count=40)).set
        return DirectoryStore([packages.package(i) for i in range(40)])

    def edit_first_package(store: DirectoryStore) -> None:
        first = dict(store.packages[0], metadata_modified="2030-01-01T00:00:00.000000", title="edited")
        store.__init__(store.packages[1:] + [first])

    def run(data_dir: Path, *, die: bool) -> tuple[pipeline.HarvestOutcome | None, Path]:
        with LocalPortal(portal_store()) as portal:
            original = RunArchive._checkpoint

            def checkpoint_then_edit(self: RunArchive, state: dict[str, Any]) -> None:
                original(self, state)
                if self.checkpoints == 2:
                    edit_first_package(portal.store)
                    if die:
                        portal.inject("truncate", times=-1, action="package_search")

            RunArchive._checkpoint = checkpoint_then_edit  # type: ignore[method-assign]
            try:
                if die:
                    with pytest.raises(TruncatedResponseError):
                        harvest(ckan_source(portal.url), data_dir, http=fast_http)
                    portal.clear_faults()
                    RunArchive._checkpoint = original  # type: ignore[method-assign]
                out = harvest(ckan_source(portal.url), data_dir, http=fast_http)
            finally:
                RunArchive._checkpoint = original  # type: ignore[method-assign]
        return out, archive.raw_path(data_dir, "leeds", "scheduled__2026-11-28")

    unbroken, unbroken_raw = run(tmp_path / "unbroken", die=False)
    resumed, resumed_raw = run(tmp_path / "resumed", die=True)
    ids = [c[0] for c in content(resumed_raw)]
    assert resumed.resumed is not None and len(ids) == len(set(ids))
    assert content(resumed_raw) == content(unbroken_raw)
    assert resumed.skipped.get("duplicate") == unbroken.skipped.get("duplicate") == 1


def test_second_attempt_of_a_run_still_being_written_is_refused(tmp_path, fast_http):
    """A worker that lost its heartbeat may still be harvesting when the retry starts: the retry must not
    write into the same ``.part``. It fails retriably, naming what to wait for."""
    from citycat.checkpoint import identity
    from harvesters.base import RetriableError

    with LocalPortal.synthetic(COUNT) as portal:
        source = ckan_source(portal.url)
        raw = archive.raw_path(tmp_path, "leeds", "scheduled__2026-11-28")
        first = RunArchive(raw, identity(source, "full", None, RUN_END))
        first.open(harvesters.get("ckan")("leeds", portal.url, source.options, fast_http))
        with pytest.raises(RetriableError, match=r"\[source=leeds\] another attempt of this run is still writing"):
            harvest(source, tmp_path, http=fast_http)
        first.abandon()  # the lost worker finally dies
        out = harvest(source, tmp_path, http=fast_http)
    assert out.seen == COUNT and len(content(raw)) == COUNT
    assert not archive.sidecar(raw, "lock").exists()


def test_archived_ids_are_read_without_decoding_payloads_whatever_the_payload_holds(monkeypatch):
    from citycat import checkpoint

    tricky = {"deleted": True, "note": 'a ,"deleted":true, inside', "extras": [{"key": "deleted", "value": "false"}]}
    cases = [(RawRecord("s", native_id, "2026-11-28T00:00:00+00:00", "application/json", tricky, deleted=deleted,
                        source_modified='2026 ,"deleted":true').to_json(), (native_id, deleted))
             for deleted in (False, True) for native_id in ("plain", 'quo"te \\ é ,"native_id":"x"', "\u2028")]
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "json", None)  # the fast path must not fall back to decoding the line
        for line, expected in cases:
            assert checkpoint.id_and_deleted(line) == expected
    id_and_deleted = checkpoint.id_and_deleted
    spaced = json.dumps({"source_id": "s", "native_id": "n", "payload": {}, "deleted": True})  # another writer
    assert id_and_deleted(spaced) == ("n", True)
