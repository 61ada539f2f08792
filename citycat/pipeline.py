"""The stage functions: harvest, normalise, validate, load, publish.

Airflow tasks and the CLI call these same functions. Each takes and returns plain values
(paths, ids, counts as JSON-able dicts), so a DAG only wires them and XCom never carries
records. Times come in from the caller (the DAG's data interval, the CLI's clock): no stage
reads the clock for anything stored, so a re-run of the same interval is the same run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from citycat import archive
from citycat.config import SourceConfig, SourcesFile

log = logging.getLogger("citycat.pipeline")

Progress = Callable[[int], None]


class StageError(Exception):
    """A stage failed for a reason that retrying will not fix (gate, missing archive)."""


# --------------------------------------------------------------------------- outcomes


@dataclass
class HarvestOutcome:
    source_id: str
    run_id: str
    mode: str
    raw_path: str
    window_start: str | None
    window_end: str | None
    seen: int = 0
    deleted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    complete_listing: bool = False
    pages: int = 0
    requests: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NormaliseOutcome:
    source_id: str
    run_id: str
    normalised_path: str
    errors_path: str
    seen: int = 0
    mapped: int = 0
    deleted: int = 0
    failed: int = 0
    warnings: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def parse_time(value: str | datetime | None) -> datetime | None:
    """ISO 8601 (date or datetime) to an aware UTC datetime; naive input is taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def run_key(source_id: str, run_id: str) -> str:
    """Inventory run key: Airflow run ids repeat across DAGs, so the source is part of it."""
    return f"{source_id}__{archive.safe_name(run_id)}"


# --------------------------------------------------------------------------- context


def data_dir_from_env() -> Path:
    import os

    return Path(os.environ.get("CITYCAT_DATA_DIR", "data")).resolve()


def open_inventory(data_dir: Path):
    from inventory import Inventory

    inv = Inventory.from_env(data_dir)
    inv.migrate()
    return inv


def source_context(source: SourceConfig, base_uri: str):
    from transforms.base import Institution, SourceContext

    inst = source.institution
    return SourceContext(source_id=source.id, source_title=source.title, source_url=source.url,
                         institution=Institution(name=inst.name, kind=str(inst.kind), uri=inst.uri),
                         base_uri=base_uri)


def resolve_window(source: SourceConfig, mode: str, *, since: datetime | None, until: datetime | None,
                   now: datetime, inventory=None) -> tuple[str, datetime | None, datetime | None]:
    """Decide the mode and window actually run.

    An incremental run with no explicit start continues from the end of the source's last
    successful run; with no previous run there is nothing to be incremental against, so the
    run becomes ``full`` (and says so), which is also what lets it record withdrawals.
    """
    if mode == "full":
        # Everything as of the window end; the next incremental run continues from there.
        return mode, None, until or now
    if mode != "incremental":
        return mode, since, until
    if since is None and inventory is not None:
        last = inventory.last_successful_run(source.id)
        if last is not None:
            since = last.window_end or last.finished_at
    if since is None:
        log.info("%s: no previous successful run, running a full harvest instead of incremental", source.id)
        return "full", None, until or now
    return "incremental", since, until or now


# --------------------------------------------------------------------------- harvest


def harvest(source: SourceConfig, run_id: str, mode: str, *, window_start: datetime | None,
            window_end: datetime | None, data_dir: Path, replay_run: str | None = None,
            progress: Progress | None = None) -> HarvestOutcome:
    """Stream the source's raw records into the run's raw archive.

    ``replay`` harvests nothing: it points at the archive of ``replay_run`` so the later
    stages re-process it without contacting the source.
    """
    import harvesters
    from harvesters.base import HarvestWindow

    started = time.monotonic()
    if mode == "replay":
        if not replay_run:
            raise StageError(f"[source={source.id}] mode=replay needs replay_run (the run id whose raw archive to reuse)")
        path = archive.raw_path(data_dir, source.id, replay_run)
        if not path.exists():
            raise StageError(f"[source={source.id}] no raw archive for run {replay_run!r} at {path}; "
                             f"list {path.parent} for the runs that exist")
        meta = json.loads(archive.sidecar(path, "meta.json").read_text()) if archive.sidecar(path, "meta.json").exists() else {}
        return HarvestOutcome(source.id, run_id, mode, str(path), meta.get("window_start"), meta.get("window_end"),
                              seen=meta.get("seen", 0), deleted=meta.get("deleted", 0),
                              complete_listing=bool(meta.get("complete_listing")),
                              seconds=time.monotonic() - started)

    harvesters.load_builtin()
    cls = harvesters.get(source.kind)
    harvester = cls(source.id, source.url, source.options, http=None)
    window = HarvestWindow(start=window_start, end=window_end) if mode == "incremental" else HarvestWindow()
    path = archive.raw_path(data_dir, source.id, run_id)
    out = HarvestOutcome(source.id, run_id, mode, str(path), _iso(window.start), _iso(window.end))
    with archive.write_lines(path) as fh:
        for record in harvester.records(window, mode):  # type: ignore[arg-type]
            fh.write(record.to_json())
            fh.write("\n")
            out.seen += 1
            out.deleted += record.deleted
            if progress:
                progress(1)
    st = harvester.stats
    out.skipped, out.errors = dict(st.skipped), list(st.errors)
    out.complete_listing = bool(st.complete_listing and mode == "full")
    out.pages, out.requests = st.pages, st.requests
    out.seconds = round(time.monotonic() - started, 3)
    archive.write_json(archive.sidecar(path, "meta.json"), out.as_dict())
    return out


# --------------------------------------------------------------------------- normalise


# Normalise maps records in worker processes when the run is big enough to repay their start-up.
# Workers come from the "forkserver" start method (Linux, macOS): a clean server process, started once
# per Python process with the mapping modules preloaded, forks each worker. Plain "fork" would copy the
# calling process as it is, and an Airflow task process or a CLI with a progress bar has threads whose
# locks (logging, I/O) a forked child can inherit held. Elsewhere "spawn" is used.
NORMALISE_SMALL_RUN = 2_000  # fewer raw lines than this are mapped in-process
NORMALISE_CHUNK = 200  # raw lines sent to a worker at a time
NORMALISE_MAX_WORKERS = 4
_PRELOAD = ["citycat.pipeline", "harvesters.base", "transforms.ckan"]

# per record: (kind, JSON line to write, warning count, traceback of a mapping bug or None);
# kind "mapped" / "deleted" go to the normalised file, "failed" to the errors file
Outcome = tuple[str, str, int, Optional[str]]

_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
_encode_plain = json.JSONEncoder(ensure_ascii=False).encode
_worker_state: tuple[Callable[..., Any], Any] | None = None


def default_workers() -> int:
    """Worker processes for normalise: one per core, at most NORMALISE_MAX_WORKERS."""
    import os

    return max(1, min(os.cpu_count() or 1, NORMALISE_MAX_WORKERS))


def _error_line(native_id: str, field_: str | None, reason: str, stage: str) -> str:
    return _encode_plain({"native_id": native_id, "field": field_, "reason": reason, "stage": stage})


def normalise_line(n: int, line: str, mapping: Callable[..., Any], ctx: Any) -> Outcome:
    """One raw archive line (``n``: its 1-based position) to what normalise writes for it; never raises."""
    import hashlib
    import traceback

    from harvesters.base import RawRecord
    from transforms.base import MappingError

    try:
        record = RawRecord.from_json(line)
    except (ValueError, TypeError) as exc:
        return "failed", _error_line(f"line {n}", None, f"raw archive line is not a record: {exc}", "normalise"), 0, None
    if record.deleted:
        return "deleted", _encode_plain({"native_id": record.native_id, "uri": None, "deleted": True, "hash": None,
                                         "nt": None, "row": None, "source_modified": record.source_modified,
                                         "warnings": []}), 0, None
    try:
        mapped = mapping(record, ctx)
        nt = mapped.ntriples()  # raises for an IRI N-Triples cannot carry: that record fails, not the run
    except MappingError as exc:
        return "failed", _error_line(record.native_id, exc.field, exc.reason, "normalise"), 0, None
    except Exception as exc:  # a mapping bug on one record must not lose the rest of the run
        return ("failed", _error_line(record.native_id, None, f"{type(exc).__name__}: {exc}", "normalise"), 0,
                traceback.format_exc())
    return "mapped", _encode({"native_id": record.native_id, "uri": mapped.uri, "deleted": False,
                              "hash": hashlib.sha256(nt.encode("utf-8")).hexdigest(), "nt": nt,
                              "row": mapped.row, "source_modified": record.source_modified,
                              "warnings": mapped.warnings}), len(mapped.warnings), None


def _worker_init(mapping: Callable[..., Any], ctx: Any) -> None:
    """Worker start: the mapping function arrives pickled by reference (module and name) and is imported."""
    global _worker_state
    _worker_state = (mapping, ctx)


def _normalise_chunk(first_n: int, lines: list[str]) -> list[Outcome]:
    """Worker side: a chunk of raw lines, numbered from ``first_n``, mapped in order."""
    assert _worker_state is not None, "worker not initialised"
    mapping, ctx = _worker_state
    return [normalise_line(n, line, mapping, ctx) for n, line in enumerate(lines, first_n)]


def _chunks(lines: Iterator[str], size: int) -> Iterator[tuple[int, list[str]]]:
    from itertools import islice

    n = 1
    while chunk := list(islice(lines, size)):
        yield n, chunk
        n += len(chunk)


def ordered_map(submit: Callable[..., Any], chunks: Iterator[tuple[int, list[str]]], max_in_flight: int
                ) -> Iterator[list[Outcome]]:
    """Results of ``submit(first_n, lines)`` futures in input order, never more than ``max_in_flight``
    chunks submitted and not yet handed back, so memory stays flat however long the archive is."""
    from collections import deque

    pending: deque[Any] = deque()
    for first_n, chunk in chunks:
        if len(pending) >= max_in_flight:
            yield pending.popleft().result()
        pending.append(submit(first_n, chunk))
    while pending:
        yield pending.popleft().result()


def _parallel_outcomes(lines: Iterator[str], mapping: Callable[..., Any], ctx: Any, workers: int, source_id: str,
                       chunk: int) -> Iterator[list[Outcome]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    mpctx = mp.get_context(method)
    if method == "forkserver":
        mpctx.set_forkserver_preload(_PRELOAD)
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=mpctx, initializer=_worker_init,
                             initargs=(mapping, ctx)) as pool:
        try:
            for results in ordered_map(lambda n, c: pool.submit(_normalise_chunk, n, c), _chunks(lines, chunk),
                                       max_in_flight=2 * workers):
                done += len(results)
                yield results
        except BrokenProcessPool as exc:
            raise StageError(f"[source={source_id}] normalise: a worker process died after {done} records "
                             f"(killed, out of memory or crashed in native code); no normalised file was "
                             f"written. Re-run with workers=1 to map in-process and see the failing record"
                             ) from exc


def normalise(source: SourceConfig, run_id: str, raw: str | Path, *, data_dir: Path, base_uri: str,
              progress: Progress | None = None, workers: int | None = None,
              chunk_size: int = NORMALISE_CHUNK) -> NormaliseOutcome:
    """Map every raw record to DCAT-AP 3; a record that fails is written to the errors file.

    ``workers`` (default :func:`default_workers`) > 1 maps chunks of lines in worker processes once the
    archive has NORMALISE_SMALL_RUN lines; output is written in input order either way, so the files
    are the same bytes whatever the number of workers.
    """
    from itertools import chain, islice

    from transforms import get_mapping

    started = time.monotonic()
    mapping = get_mapping(source.kind)
    ctx = source_context(source, base_uri)
    npath = archive.normalised_path(data_dir, source.id, run_id)
    epath = archive.errors_path(data_dir, source.id, run_id)
    out = NormaliseOutcome(source.id, run_id, str(npath), str(epath))
    workers = default_workers() if workers is None else max(1, int(workers))
    lines = archive.read_lines(Path(raw))
    head = list(islice(lines, NORMALISE_SMALL_RUN)) if workers > 1 else []
    lines = chain(head, lines)
    if workers > 1 and len(head) >= NORMALISE_SMALL_RUN:
        batches = _parallel_outcomes(lines, mapping, ctx, workers, source.id, chunk_size)
    else:
        batches = ([normalise_line(n, line, mapping, ctx)] for n, line in enumerate(lines, 1))
    with archive.write_lines(npath) as fh, archive.write_lines(epath, compress=False) as efh:
        for batch in batches:
            for kind, text, warnings, bug in batch:
                out.seen += 1
                if kind == "failed":
                    out.failed += 1
                    efh.write(text)
                    efh.write("\n")
                    if bug:
                        log.error("%s: a record failed to map (%s)\n%s", source.id, text, bug)
                    continue
                fh.write(text)
                fh.write("\n")
                if kind == "deleted":
                    out.deleted += 1
                else:
                    out.mapped += 1
                    out.warnings += warnings
            if progress:
                progress(len(batch))
    out.seconds = round(time.monotonic() - started, 3)
    return out


def iter_normalised(path: str | Path) -> Iterator[dict[str, Any]]:
    return archive.iter_json(Path(path))


def read_errors(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for row in archive.iter_json(p):
        out.append(row)
        if limit and len(out) >= limit:
            break
    return out


# --------------------------------------------------------------------------- validate

QUALITY_COLUMNS = ("uri", "native_id", "identifier", "title", "description", "licence_uri")


def validate(source: SourceConfig, run_id: str, normalised: str | Path, *, failed_to_map: int,
             data_dir: Path) -> dict[str, Any]:
    """Run the expectation suite over the run's flat rows and decide the load gate.

    Only the columns the suite reads are put into the DataFrame, so a 100,000-dataset run
    stays a few tens of MB here whatever the size of the graphs.
    """
    import pandas as pd

    from expectations.gate import decide
    from expectations.suites import run_suite

    started = time.monotonic()
    cols: dict[str, list[Any]] = {c: [] for c in QUALITY_COLUMNS}
    seen = failed_to_map
    for rec in iter_normalised(normalised):
        seen += 1
        if rec.get("deleted"):
            continue
        row = rec["row"] or {}
        for c in QUALITY_COLUMNS:
            cols[c].append(rec["uri"] if c == "uri" else row.get(c, rec.get(c)))
    df = pd.DataFrame(cols)
    suite = run_suite(df, source_id=source.id, run_id=run_id)
    verdict = decide(suite, seen=seen, failed_to_map=failed_to_map,
                     max_failed_share=source.quality.max_failed_share)
    result = {"source_id": source.id, "run_id": run_id, "passed": verdict.passed, "reasons": verdict.reasons,
              "rows": len(df), "suite": suite.as_dict(), "seconds": round(time.monotonic() - started, 3)}
    qpath = Path(data_dir) / "quality" / source.id / f"{archive.safe_name(run_id)}.json"
    archive.write_json(qpath, result)
    result["quality_path"] = str(qpath)
    return result


# --------------------------------------------------------------------------- load


def load(source: SourceConfig, run_id: str, normalised: str | Path, *, mode: str, complete_listing: bool,
         inventory, loaded_at: datetime) -> dict[str, Any]:
    """Upsert the run into the inventory in one transaction (see inventory.Inventory.load)."""
    started = time.monotonic()
    result = inventory.load(source_id=source.id, run_id=run_key(source.id, run_id),
                            records=iter_normalised(normalised), mode=mode,
                            complete_listing=complete_listing, loaded_at=loaded_at,
                            max_drop=source.quality.max_drop)
    counts = result.as_dict()
    counts["seconds"] = round(time.monotonic() - started, 3)
    return counts


# --------------------------------------------------------------------------- publish


def publish(sources: SourcesFile, *, inventory, data_dir: Path, generated_at: datetime) -> dict[str, Any]:
    """Write the static DCAT feed from the inventory's active datasets."""
    from publish.feed import CatalogInfo, FeedDataset, SourceInfo, write_feed

    started = time.monotonic()
    c = sources.catalog
    catalog = CatalogInfo(base_uri=c.base_uri.rstrip("/"), title=c.title, description=c.description,
                          publisher_name=c.publisher_name, publisher_uri=c.publisher_uri, homepage=c.homepage,
                          licence_uri=c.licence_uri)
    infos = [SourceInfo(source_id=s.id, title=s.title, url=s.url, institution_name=s.institution.name,
                        institution_uri=s.institution.uri) for s in sources.sources]
    # content_hash (SHA-256 of nt) lets the writer spot unchanged datasets without hashing nt
    datasets = (FeedDataset(source_id=d.source_id, native_id=d.native_id, uri=d.uri, nt=d.nt,
                            first_seen=d.first_seen, last_changed=d.last_changed, content_hash=d.content_hash)
                for d in inventory.iter_datasets(status="active"))
    result = write_feed(datasets, Path(data_dir) / "feed", catalog=catalog, sources=infos,
                        page_size=c.page_size, total=inventory.count_datasets(status="active"),
                        generated_at=generated_at)
    out = asdict(result) if hasattr(result, "__dataclass_fields__") else dict(result)
    out["path"] = str(out.get("path"))
    out["seconds"] = round(time.monotonic() - started, 3)
    return out
