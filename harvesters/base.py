"""The harvester contract: what every protocol module declares and yields.

A harvester knows one protocol and nothing of DCAT or the database. It declares its
``kind`` (the name used in ``sources.yaml``), its ``cursor`` (the source field its
incremental window filters on), its paging strategy and its typed options, registers
itself by kind, and yields :class:`RawRecord` objects exactly as the source served them.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, Callable, ClassVar, Iterable, Iterator, Literal, TypeVar

import msgspec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

Mode = Literal["incremental", "full", "replay"]
T = TypeVar("T")


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


class StaleCheckpointError(HarvestError):
    """The source refused the position a resumed run continued from (an OAI-PMH resumption token that
    expired while the run was down). Nothing is wrong with the source: the harvest stage discards the
    checkpoint and lists the source again from the start."""


_msgspec_encode = msgspec.json.Encoder().encode
_msgspec_decode = msgspec.json.Decoder().decode

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

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` is in ``[start, end)``: consecutive windows then never share a record."""
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)


def parse_utc(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time → aware datetime; None for anything unreadable.

    Sources state modification times in every ISO shape (``Z`` or an offset, fractional seconds,
    date only) and often without a zone; what they mean then is UTC (CKAN stores UTC, OAI-PMH and
    CSW datestamps are UTC by definition), so naive values are read as UTC and a bare date as its
    midnight. Junk is None rather than an error because a record's time only places it in a window.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def now_iso() -> str:
    """``fetched_at`` of the records of one page: UTC, whole seconds (finer would only add noise)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    # True when ``payload`` was decoded from strict JSON by msgspec (harvesters.decode.loads): it then holds no
    # NaN/Infinity floats, the one value msgspec would write differently (null) from the json module (NaN).
    # A class-level default, set per instance; not a field, so not in the line, equality or asdict.
    strict_json: ClassVar[bool] = False

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies the payload first, which was most of the harvest's CPU.
        line = {"source_id": self.source_id, "native_id": self.native_id, "fetched_at": self.fetched_at,
                "media_type": self.media_type, "payload": self.payload, "deleted": self.deleted,
                "source_modified": self.source_modified}
        if self.strict_json:  # the same compact line, ~6x faster than json.dumps for a 4.5 kB package
            try:
                return _msgspec_encode(line).decode("utf-8")
            except (TypeError, ValueError, OverflowError):
                pass  # not plain JSON after all (a harvester added a value): the json module decides
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str | bytes) -> "RawRecord":
        """A record from its archive line; msgspec decodes it (~1.5x the json module) unless the line holds
        what only the json module reads (NaN...), which then reads it exactly as before."""
        try:
            data = _msgspec_decode(line)
        except msgspec.DecodeError:
            data = json.loads(line)
        return cls(**data)


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


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_var_name(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(f"{info.field_name} must be the NAME of an environment variable (e.g. LEEDS_CKAN_KEY), "
                         "not the secret itself; put the secret in that variable")
    return value


EnvVarName = Annotated[str | None, AfterValidator(_env_var_name)]
"""An option naming the environment variable that holds a secret. sources.yaml is committed and
shown in logs, so it may only say *where* a key is, never the key (config_check enforces the
same rule on the whole file; this is the per-option guard)."""


class HttpOptions(HarvesterOptions):
    """The politeness and safety options every kind that fetches over HTTP accepts.

    Declared once so that the same key means the same thing, with the same bounds, in every
    kind, and so that what the shared client's messages tell a user to set (``allow_redirect_hosts``)
    exists whatever the kind. A kind whose protocol needs another default (a data.json generated
    on request is slow; a CKAN portal can take more requests) redeclares just that field.
    """

    requests_per_second: float = Field(2, gt=0, le=100, description="Politeness limit for this host, shared "
                                                                    "process-wide.")
    timeout: float = Field(60, gt=0, le=600, description="Read timeout per request, in seconds.")
    max_response_mb: int = Field(50, ge=1, le=1024, description="Largest accepted response body, in MiB.")
    allow_redirect_hosts: list[str] = Field([], description="Other hosts the source may redirect to (e.g. a "
                                                            "portal moved to a CDN); any other host is refused.")


class ApiKeyOptions(HttpOptions):
    """:class:`HttpOptions` plus a key sent with every request to the source's own host."""

    api_key_env: EnvVarName = Field(None, description="NAME of the environment variable holding the API key or "
                                                      "token (never the key itself).")


class Harvester:
    """Base class of protocol modules. Subclasses set the class attributes and ``records``."""

    kind: ClassVar[str]
    cursor: ClassVar[str | None] = None  # source field the incremental window filters on
    paging: ClassVar[str] = ""  # name of the paging strategy, for docs and the run report
    Options: ClassVar[type[HarvesterOptions]] = HarvesterOptions
    # Checkpoint contract (docs/resume.md): a resumable kind calls :meth:`page_done` after the last record
    # of every page and, after :meth:`resume`, continues from the position it was given. A kind that
    # cannot (one document; a listing read whole before the first record) says why, and a failed run of
    # it is harvested again from the start.
    resumable: ClassVar[bool] = False
    not_resumable_because: ClassVar[str] = "it does not checkpoint its listing"

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any) -> None:
        self.source_id = source_id
        self.url = url
        self.options = options
        self.http = http
        self.stats = HarvestStats()
        self.unusable = 0  # records reported by :meth:`page_records`; a listing with any is not complete
        self.on_page: Callable[[dict[str, Any]], None] | None = None  # the harvest stage's checkpoint writer
        self.resume_position: dict[str, Any] | None = None  # where records() starts; None = the beginning
        self.resumed_ids: frozenset[str] = frozenset()  # native ids already in the archive before a resume

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        """Yield raw records; in ``full`` mode every record, else those in ``window``."""
        raise NotImplementedError

    def error(self, cls: type[HarvestError], message: str, **where: Any) -> HarvestError:
        return cls(message, source_id=self.source_id, **where)

    # -- checkpoints ----------------------------------------------------------------------

    def page_done(self, position: dict[str, Any]) -> None:
        """Called by a resumable kind once every record of a page has been yielded (and so written by
        the stage, which pulls records one at a time), with the position *after* that page: a
        checkpoint taken here covers exactly the records already handed out."""
        if self.on_page is not None:
            self.on_page({"position": position, "stats": asdict(self.stats), "unusable": self.unusable})

    def resume(self, checkpoint: dict[str, Any], written_ids: Iterable[str]) -> None:
        """Make the next :meth:`records` continue after the page where ``checkpoint`` (one given to
        ``on_page``) was taken. ``written_ids`` are the records already archived: kinds seed their
        duplicate check with them, so a record listed again after the resume point is still dropped."""
        if not self.resumable:
            raise TypeError(f"harvester kind {self.kind!r} cannot resume: {self.not_resumable_because}")
        self.resume_position = dict(checkpoint["position"])
        self.resumed_ids = frozenset(written_ids)
        self.stats = HarvestStats(**checkpoint["stats"])
        self.unusable = int(checkpoint.get("unusable", 0))

    @property
    def log(self) -> logging.Logger:
        """The kind's own logger (``citycat.harvesters.<module>``), so log filters can pick a protocol."""
        return logging.getLogger(f"citycat.{type(self).__module__}")

    # -- helpers every kind needs the same way ------------------------------------------

    def bounds(self, window: HarvestWindow, mode: Mode) -> HarvestWindow | None:
        """The window a run filters on: None in ``full`` mode (every record, so withdrawals can be
        computed) and for an unbounded window. ``replay`` never reaches a harvester: it re-reads the
        raw archive, so being asked to contact the source in that mode is a caller error."""
        if mode == "replay":
            raise self.error(FatalSourceError, "replay mode re-reads the raw archive; the source is not contacted")
        return None if mode == "full" or window.unbounded else window

    def outside(self, bounds: HarvestWindow | None, when: datetime | None, *, stamp: Any = None,
                native_id: str | None = None, field: str | None = None) -> bool:
        """True, counted as ``skipped["outside window"]``, when a record's time puts it outside ``bounds``.

        Servers return records outside the asked range (whole-second or whole-day widening, ignored
        filters), so every kind re-checks each record here. A record without a readable time is kept
        (False): it cannot be placed outside any window, and dropping it would lose it for good;
        with ``field`` given, that is logged naming the record, the field and the value (``stamp``).
        """
        if bounds is None:
            return False
        if when is None:
            if field:
                self.log.warning("%s", self.error(
                    SkippableRecordError, f"unreadable {field} {stamp!r}; kept", native_id=native_id, field=field))
            return False
        if bounds.contains(when):
            return False
        self.stats.skip("outside window")
        return True

    def page_records(self, page: int, items: Iterable[T], make: Callable[[T], RawRecord | None]
                     ) -> Iterator[RawRecord]:
        """``make(item)`` for each item of a page, skipping the None results; a :class:`SkippableRecordError`
        is reported with the page and position (the record may have no id to name) and the page goes on."""
        for n, item in enumerate(items):
            try:
                record = make(item)
            except SkippableRecordError as exc:
                self.unusable += 1
                self.stats.errors.append(f"{exc} (page {page}, record {n + 1})")
                self.log.warning("%s", exc)
                continue
            if record is not None:
                yield record

    def fully_listed(self, done: bool, listed: int, stated: int | None, what: str) -> bool:
        """Whether a full run saw every record, which is what licenses withdrawals: the paging reached
        its end, no record was unusable, and the source's own count (when it states one) was met.
        A listing short of that count is logged, since records will then stay in the inventory."""
        short = stated is not None and listed < stated
        if short:
            self.log.warning("%s: listed %d %s but the source counted %d; withdrawals will not be computed",
                             self.source_id, listed, what, stated)
        return done and not short and self.unusable == 0

    def report(self, message: str, *, native_id: str | None = None, field: str | None = None,
               reason: str | None = None) -> None:
        """Record one unusable record (skippable: the run goes on) in the run's errors and the log;
        ``reason`` also counts it in ``stats.skipped``."""
        line = str(self.error(SkippableRecordError, message, native_id=native_id, field=field))
        if reason:
            self.stats.skip(reason)
        self.stats.errors.append(line)
        self.log.warning("%s", line)


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
