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
from typing import Any, Callable, Iterator

from citycat import archive, checkpoint
from citycat.normalise import NormaliseOutcome, StageError, normalise, source_context  # noqa: F401 (stage API)
from citycat.config import SourceConfig, SourcesFile

log = logging.getLogger("citycat.pipeline")

Progress = Callable[[int], None]


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
    resumed: dict[str, Any] | None = None  # {"after_page", "records"} when a checkpoint was continued

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
            progress: Progress | None = None, resume: bool = True, checkpoints: bool = True,
            http: Any = None) -> HarvestOutcome:
    """Stream the source's raw records into the run's raw archive.

    ``replay`` harvests nothing: it points at the archive of ``replay_run`` so the later
    stages re-process it without contacting the source.

    A resumable kind checkpoints after every page (citycat/checkpoint.py): when an earlier attempt
    of the same run id and window failed, this one continues from its last checkpoint
    (``resume=False`` starts over; ``checkpoints=False`` writes none, for benchmarks). ``http`` is
    the harvester's base HTTP settings (an HttpConfig; tests pass fast retries).
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
    window = HarvestWindow(start=window_start, end=window_end) if mode == "incremental" else HarvestWindow()
    path = archive.raw_path(data_dir, source.id, run_id)
    out = HarvestOutcome(source.id, run_id, mode, str(path), _iso(window.start), _iso(window.end))
    harvester, run = _harvest_attempts(cls, source, mode, window, path, http=http, resume=resume,
                                       checkpoints=checkpoints, progress=progress,
                                       ident=checkpoint.identity(source, mode, window_start, window_end))
    out.seen, out.deleted, out.resumed = run.seen, run.deleted, run.resumed
    st = harvester.stats
    out.skipped, out.errors = dict(st.skipped), list(st.errors)
    out.complete_listing = bool(st.complete_listing and mode == "full")
    out.pages, out.requests = st.pages, st.requests
    out.seconds = round(time.monotonic() - started, 3)
    archive.write_json(archive.sidecar(path, "meta.json"), out.as_dict())
    return out


def _harvest_attempts(cls: Any, source: SourceConfig, mode: str, window: Any, path: Path, *, http: Any,
                      resume: bool, checkpoints: bool, progress: Progress | None,
                      ident: dict[str, Any]) -> tuple[Any, checkpoint.RunArchive]:
    """Harvest into ``path``, continuing an earlier attempt's checkpoint when there is one; a source
    that refuses the stored position (an expired resumption token) gets one clean attempt more."""
    from harvesters.base import StaleCheckpointError

    while True:
        harvester = cls(source.id, source.url, source.options, http=http)
        run = checkpoint.RunArchive(path, ident, enabled=checkpoints)
        resumed = run.open(harvester, resume=resume)
        if progress and run.seen:
            progress(run.seen)
        try:
            for record in harvester.records(window, mode):
                run.write(record)
                if progress:
                    progress(1)
        except StaleCheckpointError as exc:
            run.discard()
            if not resumed:
                raise
            log.warning("%s: %s; discarded the checkpoint, harvesting again from the start", source.id, exc)
            resume = False
            continue
        except BaseException:
            run.abandon()
            raise
        run.commit()
        return harvester, run


def iter_normalised(path: str | Path) -> Iterator[dict[str, Any]]:
    """The run's normalised records in order (inflated on a second thread, decoded by msgspec:
    citycat/normalised_reader.py; the same dicts ``json.loads`` gives)."""
    from citycat.normalised_reader import read_normalised

    return read_normalised(path)


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

def validate(source: SourceConfig, run_id: str, normalised: str | Path, *, failed_to_map: int,
             data_dir: Path, isolate: bool = False, run_time: datetime | None = None, mode: str | None = None,
             inventory=None, data_docs: bool | None = None) -> dict[str, Any]:
    """Run the suites over the run, measure every dataset, and decide the load gate.

    ``run_time`` is the run's reference time (never the clock): the time-relative warnings and
    the quality rows are dated by it. With an ``inventory`` the per-dataset quality pass runs
    (SHACL cached by content hash, MQA, stars, findings -> ``dataset_quality``; aggregates ->
    ``harvest_runs.quality``) and a ``full`` run is compared with the source's active datasets
    (the state its last good runs left) for the run-level volume checks. ``data_docs`` (default:
    the source's ``quality.data_docs``) renders the GX Data Docs site of the run.

    ``isolate`` runs it in a child process: great-expectations alone costs ~215 MB of RSS once
    imported, which a long-lived CLI process would otherwise carry into every later stage and
    source. (An Airflow task is a process of its own already.)
    """
    previous = inventory.active_count(source.id) if inventory is not None and mode == "full" else None
    docs = source.quality.data_docs if data_docs is None else data_docs
    kwargs = {"failed_to_map": failed_to_map, "data_dir": Path(data_dir), "run_time": run_time,
              "previous_rows": previous, "data_docs": docs}
    from citycat.validation import run_validation

    if not isolate:
        return run_validation(source, run_id, normalised, inventory=inventory, **kwargs)
    from concurrent.futures.process import BrokenProcessPool

    global _POOL
    url = inventory.url.render_as_string(hide_password=False) if inventory is not None else None
    try:
        return _validation_pool().submit(run_validation, source, run_id, str(normalised), inventory_url=url,
                                         **kwargs).result()
    except BrokenProcessPool as exc:
        _POOL = None  # the next source gets a fresh process
        raise StageError(f"[source={source.id}] validate: the validation process died (killed or out of "
                         f"memory); the inventory was not touched") from exc


_POOL: Any = None


def shutdown() -> None:
    """Stop the validation process (also done at exit); the next validate starts a new one."""
    global _POOL
    if _POOL is not None:
        _POOL.shutdown()
        _POOL = None


def prewarm_validation() -> None:
    """Start the validation process and its imports now, in the background (nothing waits for it).

    Importing great-expectations takes ~2-3 s; started at the beginning of a run it happens while
    the harvest waits on the network, instead of after normalise. The process is the one
    :func:`validate` uses (isolate=True).
    """
    _validation_pool().submit(_import_validation)


def _import_validation() -> None:
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401

    import citycat.validation  # noqa: F401


def _validation_pool() -> Any:
    """One long-lived validation process per CLI process: GX is imported once, not once per source."""
    global _POOL
    if _POOL is None:
        from citycat.procs import long_lived_pool

        _POOL = long_lived_pool(1)
    return _POOL


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


def feed_catalog(sources: SourcesFile) -> tuple[Any, list[Any]]:
    """(CatalogInfo, [SourceInfo, ...]): the catalogue and its sources as sources.yaml describes them, the
    same for the static feed (``publish``) and the feed service (``citycat serve``)."""
    from publish.feed_publish import feed_catalog as build

    return build(sources)


def publish(sources: SourcesFile, *, inventory, data_dir: Path, generated_at: datetime) -> dict[str, Any]:
    """Write the static DCAT feed from the inventory's active datasets (publish/feed_publish.py: quality
    measurements as DQV, cluster links, and only the datasets that changed since the last publish read)."""
    from publish.feed_publish import publish_inventory

    return publish_inventory(sources, inventory=inventory, data_dir=data_dir, generated_at=generated_at)
