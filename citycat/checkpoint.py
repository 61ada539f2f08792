"""Checkpoints of a harvest in progress, so a retry continues where a failed attempt stopped.

A big portal takes an hour to list; a worker killed at 90% (OOM killer, a redeploy, the node
lost) or a source that goes down for the last 10% should not cost the whole hour again. After
every completed page the harvest stage records, next to the run's raw archive, where the
listing stands (``<run>.checkpoint.json``):

* ``identity``: source, kind, URL, options digest, mode and window. A retry resumes only when
  all of them match: the same run id with another window is another harvest;
* ``harvester``: the kind's position after the page (offset, resumption token, next link,
  CSW startPosition, plus the counters its completeness check needs) and its stats;
* ``archive_bytes``/``records``/``deleted``: how much of ``<run>.jsonl.gz.part`` those pages fill.
  The archive is written as gzip members closed at each checkpoint (fsynced before the
  checkpoint is renamed into place), so that prefix is a whole gzip file.

A retry with the same run id truncates the ``.part`` to ``archive_bytes``, reads the native ids
already archived (the kind's duplicate check is seeded with them), and asks the harvester to
continue from its position. Anything that does not add up (no ``.part``, a shorter one, a
prefix that does not decompress to ``records`` lines, another identity, a kind that cannot
resume) means a clean start, said in the log. On success the ``.part`` is renamed into place
and the checkpoint removed. Airflow retries a task with the same run id, and the data
directory is shared by every worker (a named volume in docker-compose), so the retry finds
the checkpoint whichever worker runs it. See docs/resume.md.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import logging
import os
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from citycat import archive
from harvesters.base import RetriableError

log = logging.getLogger("citycat.checkpoint")

FORMAT = 1


def path_for(raw: Path) -> Path:
    """``raw/<source>/<run>.jsonl.gz`` -> ``raw/<source>/<run>.checkpoint.json``."""
    return archive.sidecar(Path(raw), "checkpoint.json")


def part_for(raw: Path) -> Path:
    return Path(raw).with_name(Path(raw).name + ".part")


def identity(source: Any, mode: str, window_start: datetime | None, window_end: datetime | None) -> dict[str, Any]:
    """What must be the same for a checkpoint to be continued: another window or other options
    would list other records, so the archive so far would not be a prefix of this harvest."""
    options = json.dumps(source.options.model_dump(mode="json"), sort_keys=True)
    return {"source_id": source.id, "kind": source.kind, "url": source.url, "mode": mode,
            "window_start": _iso(window_start), "window_end": _iso(window_end),
            "options_sha256": hashlib.sha256(options.encode("utf-8")).hexdigest()}


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).isoformat() if when else None


def read(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``; None when absent or unreadable (then the harvest starts clean)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("checkpoint %s is unreadable (%s); ignoring it", path, exc)
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def write(path: Path, data: dict[str, Any], *, sync: bool = True) -> None:
    """Atomically replace the checkpoint: a kill mid-write leaves the previous one whole."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def mismatch(saved: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """The first identity field that differs, as a log phrase; None when the checkpoint belongs here."""
    found = saved.get("identity") or {}
    for key, value in expected.items():
        if found.get(key) != value:
            return f"its {key} is {found.get(key)!r}, this run's is {value!r}"
    return None


_DECODER = json.JSONDecoder()
_HEAD, _ID, _DELETED = '{"source_id":', ',"native_id":', ',"deleted":'


def id_and_deleted(line: str) -> tuple[str, bool]:
    """``native_id`` and ``deleted`` of an archive line without decoding its payload.

    ``RawRecord.to_json`` writes ``source_id``, ``native_id`` first and ``deleted`` after the payload.
    ``,"deleted":`` with bare quotes cannot occur inside a JSON string, so its last occurrence is the
    record's own key, whatever the payload holds. Any other layout is decoded in full.
    """
    try:
        if line.startswith(_HEAD):
            _, end = _DECODER.raw_decode(line, len(_HEAD))
            if line.startswith(_ID, end):
                native_id, _ = _DECODER.raw_decode(line, end + len(_ID))
                at = line.rfind(_DELETED)
                if isinstance(native_id, str) and at > end:
                    return native_id, line.startswith("true", at + len(_DELETED))
    except ValueError:
        pass  # another layout (whitespace after the colons): decode it all
    rec = json.loads(line)
    return rec["native_id"], bool(rec.get("deleted"))


def cut_to_checkpoint(part: Path, length: int) -> tuple[list[str], int]:
    """Truncate ``part`` to the checkpoint's ``length`` (dropping a page half-written when the worker
    died) and return the (native ids, tombstone count) of what is left, read as a stream so that a
    resume of 100,000 records holds ids, not payloads. ValueError when the file is shorter than
    ``length`` or what is left is not a complete gzip stream of JSON lines (the caller then starts clean
    and overwrites the file anyway)."""
    size = part.stat().st_size
    if size < length:
        raise ValueError(f"{part} holds {size} bytes, the checkpoint expects {length}")
    os.truncate(part, length)
    ids: list[str] = []
    deleted = 0
    try:
        with gzip.open(part, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    native_id, tombstone = id_and_deleted(line)
                    ids.append(native_id)
                    deleted += tombstone
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"the first {length} bytes of {part} are not a complete gzip stream ({exc})") from None
    return ids, deleted


class RunArchive:
    """The ``.part`` archive of one harvest attempt and its checkpoint; see the module doc.

    ``open`` decides between resuming and a clean start and wires the harvester's page callback,
    ``write`` archives one record, ``commit`` renames the archive into place, ``abandon`` keeps what a
    retry can continue from (or removes it when there is nothing to continue), ``discard`` removes both.
    """

    def __init__(self, raw: Path, ident: dict[str, Any], *, enabled: bool = True, sync: bool = True) -> None:
        self.raw = Path(raw)
        self.part = part_for(self.raw)
        self.path = path_for(self.raw)
        self.identity = ident
        self.enabled = enabled
        self.sync = sync
        self.seen = 0
        self.deleted = 0
        self.checkpoints = 0
        self.resumed: dict[str, Any] | None = None  # what was continued: page, records
        self._writer: archive.MemberWriter | None = None
        self._lock: Any = None

    def _take_lock(self) -> None:
        """One attempt per run at a time: a worker that lost its heartbeat may still be writing when
        the retry starts on another worker (same host: flock on the shared volume)."""
        self.raw.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(archive.sidecar(self.raw, "lock"), "a")
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise RetriableError(f"another attempt of this run is still writing {self.part}; retry once it has "
                                 "stopped (its worker was probably lost, not yet killed)",
                                 source_id=self.identity["source_id"]) from None

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the descriptor drops the flock
            self._lock = None

    # -- start ---------------------------------------------------------------------------

    def open(self, harvester: Any, *, resume: bool = True) -> bool:
        """Prepare the archive for ``harvester``; True when it continues an earlier attempt."""
        self._take_lock()
        try:
            return self._open(harvester, resume)
        except BaseException:
            self._release()
            raise

    def _open(self, harvester: Any, resume: bool) -> bool:
        source = self.identity["source_id"]
        saved = read(self.path) if self.enabled else None
        reason = None
        if not self.enabled:
            reason = "checkpoints are off for this run" if self.path.exists() or self.part.exists() else None
        elif saved is None:
            if self.part.exists():
                reason = "an earlier attempt left an archive without a checkpoint"
        elif not resume:
            reason = "resume is off for this run"
        elif not harvester.resumable:
            reason = f"kind {harvester.kind!r} cannot resume ({harvester.not_resumable_because})"
        elif (problem := mismatch(saved, self.identity)) is not None:
            reason = f"the checkpoint is of another harvest: {problem}"
        else:
            try:
                ids, deleted = cut_to_checkpoint(self.part, int(saved["archive_bytes"]))
                if len(ids) != saved["records"]:
                    raise ValueError(f"{self.part} holds {len(ids)} records before the checkpoint, "
                                     f"the checkpoint says {saved['records']}")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                reason = f"the archive does not match the checkpoint ({exc})"
            else:
                harvester.resume(saved["harvester"], ids)
                self._writer = archive.MemberWriter(self.part, append_at=int(saved["archive_bytes"]))
                self.seen, self.deleted = len(ids), deleted
                self.checkpoints = int(saved.get("checkpoints", 0))
                self.resumed = {"after_page": harvester.stats.pages, "records": len(ids),
                                "checkpoint_written_at": saved.get("written_at")}
                log.info("%s: resuming the harvest after page %d (%d records already archived in %s)",
                         source, harvester.stats.pages, len(ids), self.part)
        if self._writer is None:
            if reason:
                log.warning("%s: harvesting from the start: %s", source, reason)
            self.path.unlink(missing_ok=True)
            self._writer = archive.MemberWriter(self.part)
        if self.enabled and harvester.resumable:
            harvester.on_page = self._checkpoint
        return self.resumed is not None

    # -- during --------------------------------------------------------------------------

    def write(self, record: Any) -> None:
        assert self._writer is not None, "RunArchive.open() first"
        self._writer.write(record.to_json())
        self._writer.write("\n")
        self.seen += 1
        self.deleted += record.deleted

    def _checkpoint(self, state: dict[str, Any]) -> None:
        assert self._writer is not None
        length = self._writer.boundary(sync=self.sync)
        self.checkpoints += 1
        write(self.path, {"format": FORMAT, "identity": self.identity, "archive_bytes": length,
                          "records": self.seen, "deleted": self.deleted, "checkpoints": self.checkpoints,
                          "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "harvester": state}, sync=self.sync)

    # -- end -----------------------------------------------------------------------------

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> None:
        """The harvest finished: the archive goes into place, the checkpoint has done its job."""
        self._close()
        os.replace(self.part, self.raw)
        self.path.unlink(missing_ok=True)
        archive.sidecar(self.raw, "lock").unlink(missing_ok=True)
        self._release()

    def abandon(self) -> None:
        """The attempt failed: keep ``.part`` and checkpoint for the retry if there is a checkpoint,
        else remove the partial archive (a later stage must never read half a harvest)."""
        self._close()
        if self.path.exists():
            log.info("%s: the checkpoint in %s lets a retry of this run continue after %d records",
                     self.identity["source_id"], self.path, (read(self.path) or {}).get("records", 0))
        else:
            self.part.unlink(missing_ok=True)
        self._release()

    def discard(self) -> None:
        self._close()
        self.part.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        self._release()
