"""The harvester contract: what every protocol module declares and yields.

A harvester knows one protocol and nothing of DCAT or the database. It declares its
``kind`` (the name used in ``sources.yaml``), its ``cursor`` (the source field its
incremental window filters on), its paging strategy and its typed options, registers
itself by kind, and yields :class:`RawRecord` objects exactly as the source served them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Iterator, Literal

from pydantic import BaseModel, ConfigDict

Mode = Literal["incremental", "full", "replay"]


# --------------------------------------------------------------------------- errors


class HarvestError(Exception):
    """Base of every error a harvester raises. Messages name the source and the fix."""

    def __init__(self, message: str, *, source_id: str | None = None, native_id: str | None = None,
                 field: str | None = None) -> None:
        self.source_id = source_id
        self.native_id = native_id
        self.field = field
        where = ", ".join(f"{k}={v}" for k, v in
                          (("source", source_id), ("record", native_id), ("field", field)) if v)
        super().__init__(f"[{where}] {message}" if where else message)
        self.reason = message


class RetriableError(HarvestError):
    """A transient failure (timeout, 429, 5xx, connection reset): the run may be retried."""


class FatalSourceError(HarvestError):
    """The source cannot be harvested as configured (bad URL, auth, not the protocol, paging loop).

    Retrying will not help; the message says what to change.
    """


class SkippableRecordError(HarvestError):
    """One record is unusable; it is reported with its native id and the run goes on."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class HarvestWindow:
    """Half-open interval ``[start, end)`` of source modification times; ``None`` = unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"HarvestWindow.{name} must be timezone-aware, got {value!r}")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"HarvestWindow start {self.start} is after end {self.end}")

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None


@dataclass
class RawRecord:
    """One record as the source served it.

    ``payload`` is the record exactly as served: a decoded JSON object for JSON APIs, the
    text of the record's XML/RDF for document protocols. ``deleted`` marks tombstones
    (OAI-PMH status="deleted", CKAN state="deleted") so the loader can withdraw them.
    """

    source_id: str
    native_id: str
    fetched_at: str  # ISO 8601, UTC
    media_type: str
    payload: Any
    deleted: bool = False
    source_modified: str | None = None

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies the payload first, which was most of the harvest's CPU.
        return json.dumps({"source_id": self.source_id, "native_id": self.native_id, "fetched_at": self.fetched_at,
                           "media_type": self.media_type, "payload": self.payload, "deleted": self.deleted,
                           "source_modified": self.source_modified}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str | bytes) -> "RawRecord":
        return cls(**json.loads(line))


@dataclass
class HarvestStats:
    """Counts a harvester keeps while it yields; the pipeline copies them into the run."""

    pages: int = 0
    requests: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    errors: list[str] = field(default_factory=list)  # one line per skippable-record error
    complete_listing: bool = False  # True when every record of the source was listed (full)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


# --------------------------------------------------------------------------- protocol


class HarvesterOptions(BaseModel):
    """Base of each kind's typed options; unknown keys are a config error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Harvester:
    """Base class of protocol modules. Subclasses set the class attributes and ``records``."""

    kind: ClassVar[str]
    cursor: ClassVar[str | None] = None  # source field the incremental window filters on
    paging: ClassVar[str] = ""  # name of the paging strategy, for docs and the run report
    Options: ClassVar[type[HarvesterOptions]] = HarvesterOptions

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any) -> None:
        self.source_id = source_id
        self.url = url
        self.options = options
        self.http = http
        self.stats = HarvestStats()

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        """Yield raw records; in ``full`` mode every record, else those in ``window``."""
        raise NotImplementedError

    def error(self, cls: type[HarvestError], message: str, **where: Any) -> HarvestError:
        return cls(message, source_id=self.source_id, **where)


_REGISTRY: dict[str, type[Harvester]] = {}


def register(cls: type[Harvester]) -> type[Harvester]:
    """Class decorator: make a harvester available under its ``kind``."""
    kind = getattr(cls, "kind", None)
    if not kind:
        raise TypeError(f"{cls.__name__} must declare a 'kind' class attribute")
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise TypeError(f"harvester kind {kind!r} registered twice ({_REGISTRY[kind].__name__}, {cls.__name__})")
    _REGISTRY[kind] = cls
    return cls


def registry() -> dict[str, type[Harvester]]:
    """All registered harvester kinds (importing :mod:`harvesters` registers the built-ins)."""
    return dict(_REGISTRY)


def get(kind: str) -> type[Harvester]:
    try:
        return _REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise FatalSourceError(f"unknown harvester kind {kind!r}; known kinds: {known}") from None
