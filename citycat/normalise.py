"""The normalise stage: raw archive in, normalised file (graph + hash + flat row per record) out.

Kept apart from the other stages because it is the CPU-heavy one: it maps records in worker
processes when the run is big enough, and its helpers must be importable by those workers.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import msgspec

from citycat import archive
from citycat.config import SourceConfig

log = logging.getLogger("citycat.pipeline")

Progress = Callable[[int], None]


class StageError(Exception):
    """A stage failed for a reason that retrying will not fix (gate, missing archive)."""


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


def source_context(source: SourceConfig, base_uri: str):
    from transforms.base import Institution, SourceContext

    inst = source.institution
    return SourceContext(source_id=source.id, source_title=source.title, source_url=source.url,
                         institution=Institution(name=inst.name, kind=str(inst.kind), uri=inst.uri),
                         base_uri=base_uri)


# Normalise maps records in worker processes when the run is big enough to repay their start-up.
# Workers come from the "forkserver" start method (Linux, macOS): a clean server process, started once
# per Python process with the mapping modules preloaded, forks each worker. Plain "fork" would copy the
# calling process as it is, and an Airflow task process or a CLI with a progress bar has threads whose
# locks (logging, I/O) a forked child can inherit held. Elsewhere "spawn" is used.
NORMALISE_SMALL_RUN = 2_000  # fewer raw lines than this are mapped in-process
NORMALISE_CHUNK = 200  # raw lines sent to a worker at a time
NORMALISE_MAX_WORKERS = 4
_PRELOAD = ["citycat.normalise", "harvesters.base", "transforms.ckan"]

# per record: (kind, JSON line to write, warning count, traceback of a mapping bug or None);
# kind "mapped" / "deleted" go to the normalised file, "failed" to the errors file
Outcome = tuple[str, str, int, Optional[str]]

# A mapped record's line is ~20 kB (its N-Triples dominate): msgspec encodes it ~5x faster than the json
# module (same JSON values; compact separators). Values msgspec would write differently from
# ``json``'s ``default=str`` (datetime, date, UUID, Decimal...) or for NaN never occur in a flat row, but a
# row holding anything beyond strings, ints, bools and nulls is written by the json module all the same.
_json_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
_msgspec_encode = msgspec.json.Encoder().encode
_JSON_TYPES = (str, int, bool, type(None))  # floats stay with json: msgspec writes NaN as null, json as NaN
_encode_plain = json.JSONEncoder(ensure_ascii=False).encode
_worker_state: tuple[Callable[..., Any], Any] | None = None
# Normalised lines a worker compresses itself, as one gzip member per chunk (gzip readers concatenate
# members): the parent then only copies bytes (archive.compress_member: ISA-L level 1 where installed,
# ~18 µs a ~20 kB line, ratio 0.078; zlib level 1 ~100 µs, the same ratio).


def _plain_json(value: Any) -> bool:
    if type(value) in _JSON_TYPES:
        return True
    if type(value) is list:
        return all(type(v) in _JSON_TYPES for v in value)
    return False


def _encode(line: dict[str, Any]) -> str:
    """A normalised line: msgspec when every row value and warning is a plain JSON value, else ``json``."""
    row = line["row"]
    if (type(line["source_modified"]) in _JSON_TYPES and all(type(w) is str for w in line["warnings"])
            and all(_plain_json(v) for v in row.values())):
        return _msgspec_encode(line).decode("utf-8")
    return _json_encode(line)


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


# what a chunk of raw lines becomes: the normalised lines as one gzip member (b"" when none),
# (kind, warning count) per record in input order, and (error line, traceback or None) per failure
Chunk = tuple[bytes, list[tuple[str, int]], list[tuple[str, Optional[str]]]]


def map_chunk(first_n: int, lines: list[str], mapping: Callable[..., Any], ctx: Any) -> Chunk:
    """Raw lines numbered from ``first_n`` to what normalise writes for them, compressed where they are mapped
    (in a worker process, so the parent neither encodes nor compresses)."""
    written: list[str] = []
    kinds: list[tuple[str, int]] = []
    failures: list[tuple[str, Optional[str]]] = []
    for n, line in enumerate(lines, first_n):
        kind, text, warnings, bug = normalise_line(n, line, mapping, ctx)
        kinds.append((kind, warnings))
        if kind == "failed":
            failures.append((text, bug))
        else:
            written.append(text)
            written.append("\n")
    data = "".join(written).encode("utf-8")
    member = archive.compress_member(data) if data else b""
    return member, kinds, failures


def _normalise_chunk(first_n: int, lines: list[str]) -> Chunk:
    """Worker side: a chunk of raw lines, numbered from ``first_n``, mapped in order."""
    assert _worker_state is not None, "worker not initialised"
    mapping, ctx = _worker_state
    return map_chunk(first_n, lines, mapping, ctx)


def _chunks(lines: Iterator[str], size: int) -> Iterator[tuple[int, list[str]]]:
    from itertools import islice

    n = 1
    while chunk := list(islice(lines, size)):
        yield n, chunk
        n += len(chunk)


def ordered_map(submit: Callable[..., Any], chunks: Iterator[tuple[int, list[str]]], max_in_flight: int
                ) -> Iterator[Any]:
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
                       chunk: int) -> Iterator[Chunk]:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from citycat.procs import mp_context

    mpctx = mp_context(preload=_PRELOAD)
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=mpctx, initializer=_worker_init,
                             initargs=(mapping, ctx)) as pool:
        try:
            for results in ordered_map(lambda n, c: pool.submit(_normalise_chunk, n, c), _chunks(lines, chunk),
                                       max_in_flight=2 * workers):
                done += len(results[1])
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
    parallel = workers > 1 and len(head) >= NORMALISE_SMALL_RUN
    if parallel:
        batches = _parallel_outcomes(lines, mapping, ctx, workers, source.id, chunk_size)
    else:  # the same chunks (so the same gzip members, byte for byte), mapped here
        batches = (map_chunk(n, chunk, mapping, ctx) for n, chunk in _chunks(lines, chunk_size))
    with archive.write_members(npath) as fh, archive.write_lines(epath, compress=False) as efh:
        for member, kinds, failures in batches:
            fh.write(member)
            for text, bug in failures:
                efh.write(text)
                efh.write("\n")
                if bug:
                    log.error("%s: a record failed to map (%s)\n%s", source.id, text, bug)
            for kind, warnings in kinds:
                if kind == "mapped":
                    out.mapped += 1
                    out.warnings += warnings
                elif kind == "deleted":
                    out.deleted += 1
                else:
                    out.failed += 1
            out.seen += len(kinds)
            if progress:
                if parallel:
                    progress(len(kinds))
                else:  # in-process runs are small: a progress bar may tick per record
                    for _ in kinds:
                        progress(1)
    out.seconds = round(time.monotonic() - started, 3)
    return out
